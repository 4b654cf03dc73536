"""One way for tests to wait for something that happens on its own time (another thread, process
or broker): poll until it holds, then assert on it; never a fixed sleep that is too short on a
busy machine and too long everywhere else. Imported as a plain module (tests/ is on sys.path)."""

import time


def eventually(check, *, until=None, timeout=15.0, what=None, interval=0.05):
    """Calls check() until it holds and returns its last value.

    It holds when check() returns a truthy value, or, with `until`, when until(value) is truthy
    (to wait on a value and get it back). A check written with asserts holds once it stops
    raising AssertionError: end it with `return True` (or the value it looked at). On timeout
    raises AssertionError naming `what` with the last value or the last assertion error.
    """
    deadline = time.monotonic() + timeout
    while True:
        error = None
        try:
            value = check()
            if (until(value) if until is not None else value):
                return value
        except AssertionError as err:
            value, error = None, err
        if time.monotonic() >= deadline:
            name = what or getattr(check, "__name__", "condition")
            last = f"last error: {error}" if error else f"last value: {value!r}"[:2000]
            raise AssertionError(f"{name} not reached after {timeout}s; {last}") from error
        time.sleep(interval)
