"""Buzzer tunes and LED patterns, played without blocking by tick(now_ms)."""

from hypothesis import given, settings
from hypothesis import strategies as st
from terminal.drivers.buzzer import BUZZER_PATTERNS, LED_PATTERNS, Buzzer, Led
from terminal.drivers.sim import SimBuzzer, SimLED, SimPin, SimPWM

APP_BEEPS = ("click", "alert", "happy", "sad")  # docs/firmware.md: the app's beep actions
APP_LEDS = ("idle", "offline", "wait", "ok", "fail", "update")


def test_every_name_the_app_uses_has_a_pattern():
    assert all(BUZZER_PATTERNS[n] for n in APP_BEEPS)
    assert all(LED_PATTERNS[n] for n in APP_LEDS)
    for steps in list(BUZZER_PATTERNS.values()) + list(LED_PATTERNS.values()):
        assert all(ms > 0 for _, ms in steps)


def test_happy_tune_plays_step_by_step_and_ends_silent():
    pwm = SimPWM()
    buzzer = Buzzer(pwm)
    assert buzzer.play("happy", 1000)
    assert pwm.log[-1] == (1047, 32768)
    assert buzzer.tick(1089) and pwm.log[-1] == (1047, 32768)  # not yet: nothing blocks
    buzzer.tick(1090)
    assert pwm.log[-1] == (0, 0)  # the rest between notes
    for t in range(1090, 1500, 5):
        buzzer.tick(t)
    notes = [f for f, d in pwm.log if d]
    assert notes == [1047, 1319, 1568]
    assert not buzzer.busy and pwm.log[-1] == (0, 0)
    total = sum(ms for _, ms in BUZZER_PATTERNS["happy"])
    assert total < 500  # a counter beep must stay short


def test_a_late_tick_catches_up_and_a_new_tune_replaces_the_old():
    pwm = SimPWM()
    buzzer = Buzzer(pwm)
    buzzer.play("sad", 0)
    assert not buzzer.tick(5000)  # long after its end: finished, silent
    assert pwm.log[-1] == (0, 0)
    buzzer.play("alert", 6000)
    buzzer.play("click", 6010)
    assert buzzer.name == "click"
    assert not buzzer.tick(6010 + 12)


def test_unknown_name_is_ignored():
    buzzer = SimBuzzer()
    assert not buzzer.play("fanfare", 0) and not buzzer.busy
    assert buzzer.played == ["fanfare"]


def test_led_patterns_loop_until_changed():
    pin = SimPin()
    led = Led(pin)
    led.play("wait", 0)  # 100 ms on, 100 ms off
    levels = []
    for t in range(0, 1000, 50):
        led.tick(t)
        levels.append(pin.value())
    assert levels == [1, 1, 0, 0] * 5
    led.play("ok", 1000)
    for t in range(1000, 5000, 100):
        assert led.tick(t) and pin.value() == 1


def test_inverted_led_and_sim_led():
    pin = SimPin(1)
    led = Led(pin, invert=True)
    assert pin.value() == 1  # off means high for an LED wired to 3V3
    led.play("ok", 0)
    assert pin.value() == 0
    sim = SimLED()
    sim.play("idle", 0)
    assert sim.played == ["idle"] and sim.pin.value() == 1


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(APP_BEEPS), st.lists(st.integers(1, 200), max_size=40))
def test_any_tick_rhythm_plays_the_same_notes(name, gaps):
    pwm = SimPWM()
    buzzer = Buzzer(pwm)
    buzzer.play(name, 0)
    t = 0
    for gap in gaps:
        t += gap
        buzzer.tick(t)
    buzzer.tick(t + 10000)
    expected = iter([f for f, _ in BUZZER_PATTERNS[name] if f])
    played = [f for f, d in pwm.log if d]
    assert played and all(f in expected for f in played)  # in order; late ticks skip notes
    assert pwm.log[-1] == (0, 0) and not buzzer.busy
