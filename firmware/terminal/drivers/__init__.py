"""Drivers of the counter terminal, each behind a small interface, each with a twin in sim.py.

Interfaces (duck types: the runtime only calls these):
  scanner   poll() -> text or None; trigger(); configure(baud, terminator) -> state;
            check() -> state; .state in "ok" | "fault" | "absent"
  display   show(lines) (Screen from display_ssd1306: 8 lines of 16 ASCII characters, title first)
  keypad    poll(now_ms) -> key or None
  buzzer    play(name, now_ms); tick(now_ms)        (led: the same, with LED pattern names)
  wifi      tick(now_ms) -> state; is_up(); rssi(); status() -> dict
  clock     now() -> Unix seconds; sync() -> bool; due(now_s); .synced; .drift_s

Hardware modules (machine, network, framebuf, ntptime) are imported inside the drivers that need
them, never here, so that the pure parts import on CPython too.
"""

import time

# MicroPython's ticks wrap around: elapsed times are compared through ticks_diff. CPython has no
# ticks: a monotonic millisecond count and a plain difference do the same job there.
if hasattr(time, "ticks_ms"):
    ticks_ms = time.ticks_ms
    ticks_diff = time.ticks_diff
    sleep_ms = time.sleep_ms
else:
    def ticks_ms():
        return int(time.monotonic() * 1000)

    def ticks_diff(a, b):
        return a - b

    def sleep_ms(ms):
        time.sleep(ms / 1000)
