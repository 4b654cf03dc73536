"""The protocol package on the real MicroPython binary: same vectors, same bytes, no crash."""

import pytest

pytestmark = pytest.mark.micropython


def test_protocol_vectors_and_fuzzing_pass_on_micropython(run_micropython):
    result = run_micropython("tests/micropython/check_protocol.py", "3000")
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert not failures, "\n".join(failures) + result.stderr
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    summary = result.stdout.strip().splitlines()[-1].split()
    assert summary[0] == "SUMMARY" and int(summary[1]) >= 30 and summary[2] == "0"
