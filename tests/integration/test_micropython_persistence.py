"""Terminal persistence (atomic files, DUKPT state, journal, ring log) and remote commands on
the real MicroPython binary, in a temporary directory."""

import pytest

pytestmark = pytest.mark.micropython


def test_persistence_and_commands_on_micropython(run_micropython, tmp_path):
    result = run_micropython("tests/micropython/check_persistence.py", str(tmp_path))
    lines = result.stdout.splitlines()
    failures = [line for line in lines if line.startswith("FAIL")]
    assert not failures, "\n".join(failures) + result.stderr
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    summary = lines[-1].split()
    assert summary[0] == "SUMMARY" and int(summary[1]) == 6 and summary[2] == "0"
    assert (tmp_path / "keys" / "dukpt.json").exists()
