"""The embedded broker (amqtt) with the same rules as the generated Mosquitto configuration,
through its auth and topic-check plugin hooks."""

import time

import pytest
from secure_broker import Client, device_client, new_device_id

from fleet_server.adapters.broker_security import SERVER_USER, hash_password
from fleet_server.adapters.embedded_broker import EmbeddedBroker, EmbeddedSecurity
from fleet_server.adapters.mosquitto import free_port
from fleet_server.adapters.pki import CertificateAuthority
from protocol import topics

PASSWORD = "embedded-server-password-1"


class _Endpoint:  # what device_client needs to know of a broker
    def __init__(self, ca, port):
        self.ca, self.host, self.tls_port = ca, "127.0.0.1", port


@pytest.fixture
def embedded(tmp_path):
    ca = CertificateAuthority(tmp_path / "pki")
    ca.init()
    cert, key = ca.issue_server()
    security = EmbeddedSecurity(hash_password(PASSWORD), tls_port=free_port(),
                                cafile=str(ca.ca_bundle_path), certfile=str(cert),
                                keyfile=str(key), crlfile=str(ca.crl_path))
    broker = EmbeddedBroker(port=free_port(), security=security)
    broker.start()
    yield broker, ca
    broker.stop()


def server(broker, password=PASSWORD) -> Client:
    client = Client("fleet-test-server")
    client.client.username_pw_set(SERVER_USER, password)
    return client.connect(broker.host, broker.port)


def test_devices_are_confined_and_the_server_reaches_all(embedded, tmp_path):
    broker, ca = embedded
    endpoint = _Endpoint(ca, broker.security.tls_port)
    ids, clients = [], []
    for _ in range(2):
        device_id = new_device_id()
        cred = ca.issue_device(device_id)
        ids.append(device_id)
        clients.append(device_client(endpoint, device_id, cred.cert_der, cred.key_der,
                                     tmp_path))
    (a_id, b_id), (a, b) = ids, clients
    srv = server(broker)
    try:
        assert a.ok and b.ok and srv.ok
        srv.subscribe(*topics.server_filters())
        b.subscribe(*topics.device_filters(b_id))
        a.subscribe(f"t/{b_id}/cmd", "t/+/cmd", "#", *topics.device_filters(a_id))
        a.publish(f"t/{a_id}/debit/req", b"mine")
        a.publish(f"t/{b_id}/debit/req", b"forged as B")
        srv.publish(f"t/{b_id}/cmd", b"for B")
        srv.publish(f"t/{a_id}/cmd", b"for A")
        assert srv.received() == [(f"t/{a_id}/debit/req", b"mine")]
        assert b.received() == [(f"t/{b_id}/cmd", b"for B")]
        assert a.received() == [(f"t/{a_id}/cmd", b"for A")]
    finally:
        for c in (a, b, srv):
            c.close()


def test_wrong_password_anonymous_and_revoked_certificates_are_refused(embedded, tmp_path):
    broker, ca = embedded
    bad = server(broker, password="not-the-password")
    anonymous = Client("anon").connect(broker.host, broker.port)
    time.sleep(0.3)
    assert not bad.ok and not anonymous.ok
    device_id = new_device_id()
    cred = ca.issue_device(device_id)
    ca.revoke(device_id)  # the plugin rereads the CRL when the file changes
    revoked = device_client(_Endpoint(ca, broker.security.tls_port), device_id,
                            cred.cert_der, cred.key_der, tmp_path)
    time.sleep(0.3)
    assert not revoked.ok
    for c in (bad, anonymous, revoked):
        c.close()
