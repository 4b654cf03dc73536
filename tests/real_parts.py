"""Skip locally, fail in CI: how the tests treat a missing real part (Mosquitto, PostgreSQL,
the MicroPython binary, mpy-cross). Imported as a plain module (tests/ is on sys.path)."""

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def missing(what: str):
    if IN_CI:
        pytest.fail(f"{what} is required in CI", pytrace=False)
    pytest.skip(f"{what} not available")
