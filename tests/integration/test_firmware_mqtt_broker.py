"""The terminal's MQTT client (firmware/terminal/mqtt) on the MicroPython binary and on CPython,
against the project's Mosquitto: QoS 1 round trip, retained last will, and reconnection after a
broker restart with a persistent session. The agent script (tests/micropython/mqtt_agent.py)
prints one line per client event; TLS is in test_firmware_mqtt_tls.py, the client's logic
against a scripted broker in test_firmware_mqtt_client_logic.py, the packets' vectors on both
runtimes in tests/micropython/test_mqtt_packet_vectors.py."""

import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from mqtt_agents import Watcher, start_agent  # noqa: F401 (fixture)

from fleet_server.adapters.mosquitto import MosquittoProcess, find_mosquitto

pytestmark = [pytest.mark.micropython, pytest.mark.broker]


def test_qos1_round_trip_and_retained_will(mosquitto, start_agent):  # noqa: F811
    cid = "term-" + uuid.uuid4().hex[:8]
    status = Watcher(mosquitto.port, f"test/{cid}/status")
    try:
        agent = start_agent(mosquitto.port, cid)
        agent.expect("CONNECTED 1 session=0")
        agent.expect(f"RECEIVED test/{cid}/echo ping-1")  # QoS 1 to itself, through the broker
        if start_agent.runtime == "micropython":  # heap held by the client once connected
            agent.expect("MEM connected_client_bytes=")
            used = int(agent.output().split("connected_client_bytes=")[1].split()[0])
            assert used < 6 * 1024, agent.output()
        assert status.wait_for(b"online")
        status.publish(f"test/{cid}/in", b"hello")
        agent.expect(f"RECEIVED test/{cid}/in hello")
        agent.kill()  # no DISCONNECT: the broker sees the socket die and sends the will
        assert status.wait_for(b"offline")
    finally:
        status.close()
    late = Watcher(mosquitto.port, f"test/{cid}/status")
    try:
        assert late.wait_for(b"offline") == (f"test/{cid}/status", b"offline", True)
    finally:
        late.close()


@pytest.fixture
def private_broker():
    """A broker of our own to restart: the session fixture is shared with other tests. The
    directory is reachable by the 'mosquitto' user that a root-started broker drops to, else
    persistence (the session kept across the restart) fails with 'Permission denied'."""
    binary = find_mosquitto()
    if not binary:
        pytest.skip("mosquitto not installed")
    workdir = Path(tempfile.mkdtemp(prefix="mqtt-restart-"))
    (workdir / "data").mkdir()
    os.chmod(workdir, 0o755)
    os.chmod(workdir / "data", 0o777)
    broker = MosquittoProcess(binary, workdir)
    broker.start()
    yield broker
    broker.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def test_reconnects_after_broker_restart_and_gets_what_was_published_meanwhile(
        private_broker, start_agent):  # noqa: F811
    cid = "term-" + uuid.uuid4().hex[:8]
    agent = start_agent(private_broker.port, cid, backoff_ms=3000)  # first retry in 1.5..3 s
    agent.expect("CONNECTED 1 session=0")
    agent.expect(f"RECEIVED test/{cid}/echo ping-1")
    private_broker.restart()
    sender = Watcher(private_broker.port, "test/none")
    try:
        sender.publish(f"test/{cid}/in", b"while-away")
        published_at = time.monotonic()
    finally:
        sender.close()
    agent.expect("DOWN")
    reconnected_at = agent.expect("CONNECTED 2 session=1")  # the broker kept the session
    assert published_at < reconnected_at, agent.output()
    agent.expect(f"RECEIVED test/{cid}/in while-away")
    agent.expect(f"RECEIVED test/{cid}/echo ping-2")
