"""Timers across the wrap of a board's millisecond ticks.

MicroPython's ticks_ms wraps (period 2**30 on the unix port, as on an ESP32), so a plain
subtraction gives a huge negative elapsed time right after the wrap: a retransmission, a
give-up or a screen time-out would wait for ever. Every elapsed time goes through ticks_diff;
here the clock is MicroPython's arithmetic and every timer starts just before the wrap."""

import pytest
from terminal.app import CounterApp
from terminal.drivers import buzzer, keypad_matrix, wifi
from terminal.drivers.sim import SimMatrix, SimPWM
from terminal.update import machine

from protocol.tokens import make_card

PERIOD = 2**30


def ticks_diff(a, b):
    return ((a - b + PERIOD // 2) % PERIOD) - PERIOD // 2


def ticks_add(a, ms):
    return (a + ms) % PERIOD


START = PERIOD - 2000  # two seconds before the wrap
CONFIG = {"partner": "Librairie", "cats": [{"c": "books", "l": "Livres"}], "amax": 15000,
          "hb": 60}


def test_the_board_arithmetic_of_the_test_clock():
    assert ticks_add(START, 3000) == 1000 and ticks_diff(1000, START) == 3000


class Counter:
    def __init__(self):
        self.now = START
        self.app = CounterApp(CONFIG, self.now, ticks_diff)
        self.send("tick", self.now)
        self.send("net", True)

    def send(self, kind, arg):
        return self.app.handle((kind, arg))

    def wait(self, ms):
        out = []
        for _ in range(ms // 500):  # the runtime ticks many times a second
            self.now = ticks_add(self.now, 500)
            out += self.send("tick", self.now)
        return out


def _sell(c, seq=7):
    c.send("scan", make_card("12345678901"))
    for k in "1" "1234" "A" "A":
        c.send("key", k)
    c.send("sent", seq)


def test_a_request_sent_before_the_wrap_is_asked_again_and_given_up_after_it():
    c = Counter()
    _sell(c)
    assert c.wait(4500) == []  # across the wrap: 4.5 s, not a negative billion
    assert ("retransmit", 7) in c.wait(500)
    c.wait(25000)
    assert c.app.state == "no_answer"


def test_a_result_screen_shown_before_the_wrap_returns_to_idle_on_time():
    c = Counter()
    _sell(c)
    c.send("result", {"t": "debit_res", "v": 1, "seq": 7, "st": "approved", "amt": 1234,
                      "auth": "A1B2C3"})
    assert c.app.state == "result"
    c.wait(19500)
    assert c.app.state == "result"
    c.wait(500)
    assert c.app.state == "idle"


def test_a_voucher_letter_is_committed_across_the_wrap():
    c = Counter()
    c.send("key", "D")  # the menu, then 2: a voucher code, typed by multi-tap
    c.send("key", "2")
    c.send("key", "2")  # "A" pending
    assert c.app.code.pending_key == "2"
    c.wait(1500)
    assert c.app.code.pending_key is None and c.app.code.text == "A"


@pytest.fixture
def board_ticks(monkeypatch):
    for module in (buzzer, keypad_matrix, wifi):
        monkeypatch.setattr(module, "ticks_diff", ticks_diff)


def test_keypad_debounce_across_the_wrap(board_ticks):
    wires = SimMatrix()
    pad = keypad_matrix.Keypad(wires.rows, wires.cols, debounce_ms=30)
    wires.press("5")
    now, keys = PERIOD - 20, []
    for _ in range(10):
        keys.append(pad.poll(now))
        now = ticks_add(now, 5)
    assert [k for k in keys if k] == ["5"]


def test_a_tune_started_before_the_wrap_plays_on_after_it(board_ticks):
    pwm = SimPWM()
    tune = buzzer.Buzzer(pwm, {"beep": ((1000, 50), (0, 50), (2000, 50))})
    tune.play("beep", PERIOD - 60)
    assert tune.tick(ticks_add(PERIOD - 60, 55)) and pwm.log[-1][1] == 0
    assert tune.tick(ticks_add(PERIOD - 60, 105)) and pwm.log[-1][0] == 2000
    assert not tune.tick(ticks_add(PERIOD - 60, 160))


def test_update_timers_across_the_wrap():
    watch = machine.TrialWatch({"slot": "b", "rel": "1.1.0", "id": "C1"}, START, 5000,
                               ticks_diff)
    assert watch.handle(("tick", ticks_add(START, 4000), False)) == []
    assert watch.handle(("tick", ticks_add(START, 5000), False)) == [
        ("abandon", "selftest deadline")]
