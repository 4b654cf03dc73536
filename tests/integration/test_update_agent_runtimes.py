"""The update agent's safety rules (an offer needs a set clock; a failed trial never restarts
the terminal in the middle of a sale) on the real MicroPython binary and on CPython: the same
script (tests/micropython/check_update_agent.py)."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = "tests/micropython/check_update_agent.py"


def _fails(proc):
    lines = proc.stdout.splitlines()
    assert any(ln.startswith("SUMMARY") for ln in lines), proc.stdout + proc.stderr
    return [ln for ln in lines if ln.startswith("FAIL")]


def test_update_agent_rules_on_cpython(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / SCRIPT), str(REPO), str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert _fails(proc) == [] and proc.returncode == 0, proc.stdout + proc.stderr


def test_update_agent_rules_on_micropython(run_micropython, tmp_path):
    proc = run_micropython(SCRIPT, str(tmp_path))
    assert _fails(proc) == [] and proc.returncode == 0, proc.stdout + proc.stderr
