"""firmware/main.py on a board: a watchdog during a trial boot, and a reset after a crash, so
that a release that hangs or crashes rolls back by itself (stand-in `machine` module)."""

import importlib.util
import sys
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def _load_main():
    spec = importlib.util.spec_from_file_location("terminal_main", REPO / "firmware" / "main.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def board_machine(monkeypatch):
    machine = types.ModuleType("machine")
    machine.events = []

    class WDT:
        def __init__(self, timeout):
            machine.events.append(("wdt", timeout))

        def feed(self):
            machine.events.append(("feed",))

    machine.WDT = WDT
    machine.reset = lambda: machine.events.append(("reset",))
    monkeypatch.setitem(sys.modules, "machine", machine)
    return machine


def test_a_trial_boot_on_a_board_arms_the_watchdog(board_machine):
    main = _load_main()
    assert main._watchdog({"name": "esp32_gm65"}, {"slot": "b"}) is not None
    assert board_machine.events == [("wdt", main.WATCHDOG_MS)]


def test_no_watchdog_outside_a_trial_or_on_the_simulated_board(board_machine):
    main = _load_main()
    assert main._watchdog({"name": "esp32_gm65"}, None) is None
    assert main._watchdog({"name": "unix_sim"}, {"slot": "b"}) is None
    assert board_machine.events == []


def test_a_crash_on_a_board_resets_it(board_machine, monkeypatch):
    main = _load_main()
    monkeypatch.setattr(main.time, "sleep", lambda s: None)
    assert main._reset_after_crash(RuntimeError("boom")) is True
    assert board_machine.events == [("reset",)]


def test_on_the_unix_port_a_crash_propagates(monkeypatch):
    monkeypatch.setitem(sys.modules, "machine", types.ModuleType("machine"))  # no reset
    main = _load_main()
    assert main._reset_after_crash(RuntimeError("boom")) is False
