"""The crypto vectors on the real MicroPython binary, and the same checks on CPython."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "micropython" / "check_crypto.py"


def _micropython():
    found = shutil.which("micropython")
    if found:
        return found
    beside = Path(sys.executable).parent / "micropython"
    return str(beside) if beside.exists() else None


def _run(binary):
    proc = subprocess.run([binary, str(SCRIPT), str(ROOT)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    lines = proc.stdout.splitlines()
    summary = [ln for ln in lines if ln.startswith("SUMMARY ")]
    assert summary, proc.stdout + proc.stderr
    passed, failed = (int(x) for x in summary[-1].split()[1:])
    return proc, lines, passed, failed


@pytest.mark.micropython
def test_crypto_vectors_pass_on_micropython():
    binary = _micropython()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("micropython binary not found (required when CI=true)")
        pytest.skip("micropython binary not found")
    proc, lines, passed, failed = _run(binary)
    fails = [ln for ln in lines if ln.startswith("FAIL")]
    assert not fails, "\n".join(fails) + proc.stderr
    assert proc.returncode == 0 and failed == 0 and passed > 0
    assert "INFO cryptolib " in proc.stdout  # really ran on cryptolib, not a CPython fallback

    # The same script on CPython runs the very same checks, so both runtimes cover the same
    # ground and agree on every vector.
    cpy, cpy_lines, cpy_passed, cpy_failed = _run(sys.executable)
    assert cpy.returncode == 0 and cpy_failed == 0
    names = [ln for ln in lines if ln.startswith("PASS")]
    assert names == [ln for ln in cpy_lines if ln.startswith("PASS")]
