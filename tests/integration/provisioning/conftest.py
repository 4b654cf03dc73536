"""Fixtures of the provisioning tests: a fleet CA, the secured Mosquitto, device identities."""

import sys
from pathlib import Path

import pytest
from real_parts import missing

sys.path.insert(0, str(Path(__file__).parent))

from secure_broker import SecureBroker  # noqa: E402

from fleet_server.adapters.mosquitto import find_mosquitto  # noqa: E402


@pytest.fixture
def secure_broker(tmp_path):
    binary = find_mosquitto()
    if not binary:
        missing("mosquitto (apt-get install mosquitto)")
    broker = SecureBroker(binary, tmp_path / "secure").start()
    yield broker
    broker.stop()
