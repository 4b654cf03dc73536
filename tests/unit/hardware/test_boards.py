"""Hardware boards as data: the firmware's board dicts, pins valid for their chip, BOM totals,
and the wiring script drawing one picture per board."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from terminal.boards import load

REPO = Path(__file__).resolve().parents[3]


def _module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hw = _module("hardware_boards", REPO / "hardware" / "boards.py")

# GPIOs a board may use, per chip. ESP32 (WROOM-32): 6-11 are the SPI flash, 34-39 are input
# only (no pull-ups: never keypad columns or outputs), strapping pins 0 2 5 12 15 left alone.
# ESP32-S3 (WROOM-1 N8R8): strapping 0 3 45 46, USB 19 20, flash/PSRAM 26-37, UART0 43 44,
# RGB LED 38/48 and JTAG 39-42 left alone.
ALLOWED = {
    "esp32": {4, 13, 14, 16, 17, 18, 19, 21, 22, 23, 25, 26, 27, 32, 33},
    "esp32s3": {1, 2} | set(range(4, 19)) | {21, 47},
}
INPUT_ONLY = {"esp32": set(range(34, 40)), "esp32s3": set()}


@pytest.mark.parametrize("name", hw.names())
def test_board_dict_loads_in_the_firmware_format(name):
    board = load(name)
    reference = load("esp32_gm65")
    assert board["name"] == name
    assert set(board) == set(reference)
    for device in ("scanner", "display", "keypad", "buzzer", "led"):
        assert set(board[device]) == set(reference[device]), device
    assert board["scanner"]["driver"] == "gm65"
    assert board["display"]["driver"] == "ssd1306"
    assert len(board["keypad"]["rows"]) == len(board["keypad"]["cols"]) == 4
    assert len(board["keypad"]["keys"]) == 16


@pytest.mark.parametrize("name", hw.names())
def test_no_pin_used_twice(name):
    used = hw.gpios(name)
    board = load(name)
    assert len(used) == 2 + 2 + 8 + 1 + 1  # every signal of the board dict is a wire
    assert len(used) == len(set(used)), sorted(used)
    assert board["scanner"]["tx"] in used and board["display"]["scl"] in used


@pytest.mark.parametrize("name", hw.names())
def test_pins_valid_for_the_chip(name):
    chip = hw.BOARDS[name]["chip"]
    used = set(hw.gpios(name))
    assert used <= ALLOWED[chip], sorted(used - ALLOWED[chip])
    assert not set(load(name)["keypad"]["cols"]) & INPUT_ONLY[chip]


def test_s3_avoids_strapping_usb_and_psram_pins():
    used = set(hw.gpios("esp32s3_gm805"))
    assert not used & ({0, 3, 45, 46} | {19, 20} | {35, 36, 37})


@pytest.mark.parametrize("name", hw.names())
def test_bom_total(name):
    parts = hw.BOARDS[name]["parts"]
    assert parts and all(p["unit_eur"] > 0 and p["qty"] >= 1 for p in parts)
    assert hw.bom_total(name) == pytest.approx(sum(p["qty"] * p["unit_eur"] for p in parts))
    assert 20 < hw.bom_total(name) < 100
    assert (f"**{hw.bom_total(name):g}**") in hw.bom_markdown(name)


def test_bom_totals_known():
    assert hw.bom_total("esp32_gm65") == 42
    assert hw.bom_total("esp32s3_gm805") == 52


def test_readme_pin_tables_match_the_firmware():
    readme = (REPO / "hardware" / "README.md").read_text()
    for name in hw.names():
        assert hw.pins_markdown(name) in readme, name
        assert f"docs/hardware/wiring-{name}.png" in readme


def test_wiring_script_writes_a_png_per_board(tmp_path):
    from PIL import Image

    out = subprocess.run([sys.executable, str(REPO / "hardware" / "draw_wiring.py"),
                          "--out", str(tmp_path)], capture_output=True, text=True, check=True)
    for name in hw.names():
        path = tmp_path / (f"wiring-{name}.png")
        with Image.open(path) as img:
            assert img.format == "PNG" and img.size == (1200, 800)
        assert hw.BOARDS[name]["title"] in out.stdout
    assert "total per terminal" in out.stdout
