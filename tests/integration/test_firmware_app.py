"""The counter application on the real MicroPython binary: the scripted counter flows of
tests/unit/firmware/test_counter_app.py, random event sequences checked for the invariants, and
the memory the application takes (printed as an INFO line, shown with pytest -rA or -s)."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.micropython


def test_counter_flows_and_invariants_hold_on_micropython(run_micropython):
    result = run_micropython("tests/micropython/check_app.py", "500")
    lines = result.stdout.splitlines()
    failures = [line for line in lines if line.startswith("FAIL")]
    assert not failures, "\n".join(failures) + result.stderr
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    summary = lines[-1].split()
    assert summary[0] == "SUMMARY" and int(summary[1]) >= 12 and summary[2] == "0"
    info = [line for line in lines if line.startswith("INFO app_memory")]
    assert info and "micropython True" in info[0]
    fields = info[0].split()
    after_sale = int(fields[fields.index("after_sale_bytes") + 1])
    # An ESP32 without PSRAM leaves the application about 100 KB: the app itself must stay small.
    assert 0 < after_sale < 16384, info[0]
    print(info[0])


def test_counter_flows_also_pass_on_cpython():
    result = subprocess.run([sys.executable, str(REPO / "tests/micropython/check_app.py"),
                             str(REPO), "200"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
