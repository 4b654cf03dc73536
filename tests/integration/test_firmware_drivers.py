"""The terminal's drivers on the real MicroPython binary: the GM65 protocol part with random
bytes, every driver on its simulated twin, the board build at boot, and the SSD1306 / Screen
drawing on the binary's real framebuf module. The memory the board's driver modules take is
printed as an INFO line (pytest -rA or -s)."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.micropython


def test_drivers_pass_on_micropython_with_real_framebuf(run_micropython):
    result = run_micropython("tests/micropython/check_drivers.py", "1000")
    lines = result.stdout.splitlines()
    failures = [line for line in lines if line.startswith("FAIL")]
    assert not failures, "\n".join(failures) + result.stderr
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert "PASS real_framebuf" in lines and "PASS sim_display" in lines
    summary = lines[-1].split()
    assert summary[0] == "SUMMARY" and int(summary[1]) >= 13 and summary[2] == "0"
    info = [line for line in lines if line.startswith("INFO drivers_memory")]
    assert info and "micropython True" in info[0]
    modules = int(info[0].split()[-1])
    # Compiled from source on the device (a release ships .mpy, smaller still): keep the
    # board's drivers well under a third of what an ESP32 without PSRAM leaves to Python.
    assert 0 < modules < 36 * 1024, info[0]
    print(info[0])


def test_drivers_also_pass_on_cpython():
    result = subprocess.run([sys.executable, str(REPO / "tests/micropython/check_drivers.py"),
                             str(REPO), "300"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
