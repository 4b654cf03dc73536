"""The counter terminal firmware (runs on MicroPython and CPython)."""
