"""The heap the board's driver modules take on the MicroPython binary (compiled from source on
the device; a release ships .mpy, smaller still): about a third of what an ESP32 without
PSRAM leaves to Python. Measured when this module is the first the runner imports
(tests/integration/test_micropython_portable.py runs each module on its own)."""

import gc

from portable import MICROPYTHON


def free():
    gc.collect()
    return gc.mem_free() if hasattr(gc, "mem_free") else 0


# What the board imports (no sim code), before anything else is loaded.
FREE_BEFORE_IMPORT = free()

from terminal.drivers import (  # noqa: E402, F401
    buzzer,
    clock,
    display_ssd1306,
    keypad_matrix,
    scanner_gm65,
    wifi,
)

IMPORT_BYTES = FREE_BEFORE_IMPORT - free()


def test_the_board_driver_modules_take_less_than_40_kb():
    # About 34 KB in December 2026, the names the modules intern included (a test module of its
    # own interns few of them beforehand).
    if MICROPYTHON:
        print("INFO drivers_memory modules_bytes %d" % IMPORT_BYTES)
        assert 0 < IMPORT_BYTES < 40 * 1024, IMPORT_BYTES
