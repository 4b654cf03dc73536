"""Client-id takeover: a device certificate connecting under another device's client id, or the
server's, must not throw that client off nor wipe its persistent session. Tried on Mosquitto
configured by `fleet broker-config` and on the embedded broker with its security."""

import threading
import time

import pytest
from secure_broker import Client, device_client, new_device_id, server_client
from test_embedded_broker_security import _Endpoint, embedded  # noqa: F401
from test_embedded_broker_security import server as embedded_server

pytestmark = pytest.mark.broker


def _watch(client: Client) -> threading.Event:
    dropped = threading.Event()
    client.client.on_disconnect = lambda *a: dropped.set()
    return dropped


def _try_takeovers(endpoint, ca, tmp_path, server: Client):
    """A's certificate under B's client id, then under the server's: both stay connected."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a_id, b_id = new_device_id(), new_device_id()
    a_cred, b_cred = ca.issue_device(a_id), ca.issue_device(b_id)
    victim = device_client(endpoint, b_id, b_cred.cert_der, b_cred.key_der, tmp_path / "b")
    assert victim.ok and server.ok
    victim.subscribe(f"t/{b_id}/cmd")
    victim_dropped, server_dropped = _watch(victim), _watch(server)
    server_id = server.client._client_id.decode()
    attackers = []
    try:
        for stolen in (b_id, server_id):
            attacker = device_client(endpoint, a_id, a_cred.cert_der, a_cred.key_der,
                                     tmp_path / "a", client_id=stolen)
            attackers.append(attacker)
            time.sleep(0.5)
        assert not victim_dropped.is_set(), "device B was thrown off by A's certificate"
        assert not server_dropped.is_set(), "the server was thrown off by a device certificate"
        server.publish(f"t/{b_id}/cmd", b"still yours")
        assert victim.received(wait=2) == [(f"t/{b_id}/cmd", b"still yours")]
    finally:
        for client in [victim, *attackers]:
            client.close()


def test_mosquitto_binds_the_client_id_to_the_certificate(secure_broker, tmp_path):
    server = server_client(secure_broker)
    try:
        _try_takeovers(secure_broker, secure_broker.ca, tmp_path, server)
    finally:
        server.close()


def test_the_embedded_broker_binds_the_client_id_to_the_certificate(embedded,  # noqa: F811
                                                                    tmp_path):
    broker, ca = embedded
    server = embedded_server(broker)
    try:
        _try_takeovers(_Endpoint(ca, broker.security.tls_port), ca, tmp_path, server)
    finally:
        server.close()


def test_a_failed_login_under_a_client_id_changes_nothing(embedded, tmp_path):  # noqa: F811
    # amqtt looks sessions up by client id before it authenticates: a refused login must
    # still neither take over nor wipe the session of the client whose id it named.
    broker, _ca = embedded
    server = embedded_server(broker)
    try:
        dropped = _watch(server)
        intruder = Client(server.client._client_id.decode())
        intruder.client.username_pw_set("fleet-server", "not-the-password")
        intruder.connect(broker.host, broker.port)
        time.sleep(0.5)
        assert not intruder.ok and not dropped.is_set()
        intruder.close()
        server.subscribe("t/+/hb")
        device_id = new_device_id()
        server.publish(f"t/{device_id}/hb", b"session intact")
        assert server.received(wait=2) == [(f"t/{device_id}/hb", b"session intact")]
    finally:
        server.close()
