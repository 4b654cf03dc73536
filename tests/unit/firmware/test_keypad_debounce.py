"""4x4 keypad: the real scan code on SimMatrix wires; bounces, held keys, ghosting."""

from hypothesis import given, settings
from hypothesis import strategies as st
from terminal.drivers.keypad_matrix import KEYS, Keypad
from terminal.drivers.sim import SimMatrix

DEBOUNCE = 30


def make():
    wires = SimMatrix()
    return wires, Keypad(wires.rows, wires.cols, debounce_ms=DEBOUNCE)


def run(pad, start, end, step=5):
    """Poll every `step` ms over [start, end); the keys reported."""
    return [k for k in (pad.poll(t) for t in range(start, end, step)) if k]


def test_every_key_is_found_where_it_is():
    wires, pad = make()
    for key in KEYS:
        wires.press(key)
        assert pad.scan() == key
        wires.release(key)
    assert pad.scan() is None
    assert all(row.value() == 1 for row in wires.rows)  # idle rows left high


def test_one_press_one_key_no_repeat_while_held():
    wires, pad = make()
    wires.press("5")
    assert run(pad, 0, 2000) == ["5"]  # held two seconds: still one key
    wires.release("5")
    assert run(pad, 2000, 2100) == []
    wires.press("5")
    assert run(pad, 2100, 2200) == ["5"]  # a new press counts again


def test_a_key_is_reported_only_after_the_debounce_time():
    wires, pad = make()
    wires.press("A")
    assert pad.poll(0) is None
    assert pad.poll(DEBOUNCE - 1) is None
    assert pad.poll(DEBOUNCE) == "A"


def test_bounces_shorter_than_the_debounce_give_nothing():
    wires, pad = make()
    for t in range(0, 300, 10):
        if (t // 10) % 2:
            wires.press("1")
        else:
            wires.release("1")
        assert pad.poll(t) is None


def test_release_bounce_does_not_double_the_key():
    wires, pad = make()
    wires.press("7")
    assert run(pad, 0, 100) == ["7"]
    for t in range(100, 140, 10):  # contact chatter on release
        (wires.release if (t // 10) % 2 else wires.press)("7")
        assert pad.poll(t) is None
    wires.release("7")
    assert run(pad, 140, 300) == []


def test_two_keys_at_once_are_ignored():
    wires, pad = make()
    wires.press("1")
    wires.press("5")
    assert run(pad, 0, 200) == []
    wires.release("5")
    assert run(pad, 200, 300) == ["1"]


def test_rolling_from_one_key_to_another():
    wires, pad = make()
    wires.press("1")
    assert run(pad, 0, 100) == ["1"]
    wires.release("1")
    wires.press("2")
    assert run(pad, 100, 200) == ["2"]


def test_clock_going_back_does_not_stick():
    wires, pad = make()
    wires.press("#")
    pad.poll(100000)
    assert pad.poll(5) is None  # the clock went back: start counting again
    assert run(pad, 10, 100) == ["#"]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(KEYS)),
       st.lists(st.integers(1, DEBOUNCE - 1), max_size=12),
       st.integers(DEBOUNCE, 500))
def test_any_bounce_then_a_hold_is_exactly_one_key(key, bounces, hold):
    wires, pad = make()
    t, seen, down = 0, [], False
    for length in bounces:  # press/release flips, each shorter than the debounce
        down = not down
        (wires.press if down else wires.release)(key)
        for _ in range(length):
            seen += [k for k in [pad.poll(t)] if k]
            t += 1
    wires.press(key)
    for _ in range(hold + 1):
        seen += [k for k in [pad.poll(t)] if k]
        t += 1
    wires.release(key)
    for _ in range(DEBOUNCE * 3):
        seen += [k for k in [pad.poll(t)] if k]
        t += 1
    assert seen == [key]
