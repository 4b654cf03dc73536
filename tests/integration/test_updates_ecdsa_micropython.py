"""The ECDSA P-256 vectors on the real MicroPython binary, and the same script on CPython."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.micropython
REPO = Path(__file__).resolve().parents[2]


def _summary(stdout: str):
    lines = stdout.splitlines()
    fails = [ln for ln in lines if ln.startswith("FAIL")]
    summary = [ln for ln in lines if ln.startswith("SUMMARY ")][-1].split()
    return fails, int(summary[1]), int(summary[2]), [ln for ln in lines if ln.startswith("PASS")]


def test_ecdsa_vectors_on_micropython_and_cpython(run_micropython):
    result = run_micropython("tests/micropython/check_ecdsa.py", "2")
    fails, passed, failed, names = _summary(result.stdout)
    assert not fails and failed == 0 and passed >= 29, result.stdout + result.stderr
    assert result.returncode == 0
    cpy = subprocess.run([sys.executable, str(REPO / "tests/micropython/check_ecdsa.py"),
                          str(REPO), "2"], capture_output=True, text=True, timeout=120)
    cpy_fails, _, cpy_failed, cpy_names = _summary(cpy.stdout)
    assert cpy.returncode == 0 and cpy_failed == 0 and not cpy_fails
    assert names == cpy_names  # both runtimes ran the very same checks
