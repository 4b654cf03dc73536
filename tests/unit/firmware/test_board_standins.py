"""The bench's hardware stand-ins (bench/board_standins.py) let the esp32_gm65 board's real
drivers start: the GM65 register file answers the scanner's boot configuration as a module
would, the keypad reads no key, Wi-Fi connects. Run here on CPython, which like the bench's
ports has no `machine`, `network` or `ntptime` (nor `framebuf`: the display is left out here;
on the MicroPython ports the bench uses their own framebuf)."""

import importlib.util
import sys
from pathlib import Path

import pytest
from terminal.boards import build_drivers, load

REPO = Path(__file__).resolve().parents[3]

# Loaded from its file: bench/ on sys.path would shadow packages with its own module names.
_spec = importlib.util.spec_from_file_location("board_standins",
                                               REPO / "bench" / "board_standins.py")
board_standins = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(board_standins)


@pytest.fixture
def standins(monkeypatch):
    for name in ("machine", "network", "ntptime"):
        monkeypatch.setitem(sys.modules, name, board_standins)
    monkeypatch.setattr(board_standins, "time", board_standins.ntp_time)


def test_the_board_drivers_start_on_the_standins(standins, tmp_path):
    drivers = build_drivers(load("esp32_gm65"), {"storage_root": str(tmp_path)})
    assert drivers["scanner"].state == "ok"
    assert set(drivers["faults"]) <= {"display"}  # framebuf: MicroPython only
    assert drivers["keypad"].poll(0) is None
    wifi = drivers["wifi"]
    for now in range(0, 200, 50):
        wifi.tick(now)
    assert wifi.is_up() and wifi.rssi() == -60
    assert drivers["clock"].now() > 0


def test_the_uart_standin_answers_read_write_and_save_frames(standins):
    from terminal.drivers import gm65_protocol as gm

    uart = board_standins.UART(2)
    uart.write(gm.write_frame(0x0060, b"\x80"))
    assert uart.read() == b"\x02\x00\x00\x01\x00\x33\x31"  # the manual's success reply
    uart.write(gm.read_frame(0x0060))
    reply = uart.read()
    assert reply[:5] == b"\x02\x00\x00\x01\x80"
    assert gm.crc16_xmodem(reply[2:-2]) == reply[-2] << 8 | reply[-1]
    uart.write(gm.save_frame())
    assert uart.read() == b"\x02\x00\x00\x01\x00\x33\x31"
    assert uart.read() is None and uart.any() == 0
