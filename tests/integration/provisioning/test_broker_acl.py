"""The Mosquitto configuration of `fleet broker-config`, on the real broker with TLS: a device
reaches only its own topics, the server reaches all, a revoked or foreign certificate is
refused, and nobody gets in without a certificate or the server's password."""

import ssl
import time

import pytest
from secure_broker import Client, device_client, new_device_id, server_client

from fleet_server.adapters.pki import CertificateAuthority
from protocol import topics

pytestmark = pytest.mark.broker


def connect_device(broker, tmp_path, device_id=None, ca=None):
    device_id = device_id or new_device_id()
    cred = (ca or broker.ca).issue_device(device_id)
    return device_id, cred, device_client(broker, device_id, cred.cert_der, cred.key_der,
                                          tmp_path)


def refused(connect) -> str:
    """How a connection was refused: 'tls' (handshake), 'connack' (not authorised)."""
    try:
        client = connect()
    except (ssl.SSLError, OSError):
        return "tls"
    time.sleep(0.3)
    connack = client.connack
    client.close()
    if connack is None:  # the handshake failed inside paho's loop: no CONNACK ever came
        return "tls"
    return "connack" if connack.is_failure else "accepted"


def test_a_device_reaches_its_own_topics_only(secure_broker, tmp_path):
    a_id, _, a = connect_device(secure_broker, tmp_path)
    b_id, _, b = connect_device(secure_broker, tmp_path)
    server = server_client(secure_broker)
    try:
        assert a.ok and b.ok and server.ok
        server.subscribe(*topics.server_filters())
        b.subscribe(*topics.device_filters(b_id))
        # A tries every way to B's commands: its exact topic, a wildcard, everything.
        a.subscribe(f"t/{b_id}/cmd", "t/+/cmd", "t/#", "#", *topics.device_filters(a_id))
        a.publish(f"t/{a_id}/debit/req", b"mine")
        a.publish(f"t/{b_id}/debit/req", b"forged as B")
        a.publish(f"t/{b_id}/status", b"B offline (forged)")
        a.publish(f"t/{a_id}/cmd", b"a command to myself")  # down leaves are not A's to send
        server.publish(f"t/{b_id}/cmd", b"for B")
        server.publish(f"t/{a_id}/cmd", b"for A")
        assert server.received() == [(f"t/{a_id}/debit/req", b"mine")]
        assert b.received() == [(f"t/{b_id}/cmd", b"for B")]
        assert a.received() == [(f"t/{a_id}/cmd", b"for A")]
    finally:
        for c in (a, b, server):
            c.close()


def test_the_last_will_of_a_device_is_its_own_status(secure_broker, tmp_path):
    device_id = new_device_id()
    cred = secure_broker.ca.issue_device(device_id)
    server = server_client(secure_broker)
    server.subscribe(f"t/{device_id}/status")
    from secure_broker import pem_files

    cert, key = pem_files(tmp_path, device_id, cred.cert_der, cred.key_der)
    device = Client(device_id)
    device.client.tls_set(ca_certs=str(secure_broker.ca.root_cert_path), certfile=str(cert),
                          keyfile=str(key))
    device.client.will_set(f"t/{device_id}/status", b"offline", qos=1, retain=True)
    device.connect(secure_broker.host, secure_broker.tls_port)
    assert device.ok
    device.client.loop_stop()
    device.client.socket().close()  # dies without DISCONNECT: the broker sends the will
    assert (f"t/{device_id}/status", b"offline") in server.received(wait=5)
    server.close()


def test_a_revoked_certificate_is_refused_and_its_session_ended(secure_broker, tmp_path):
    device_id, cred, device = connect_device(secure_broker, tmp_path)
    server = server_client(secure_broker)
    server.subscribe(*topics.server_filters())
    try:
        device.publish(f"t/{device_id}/hb", b"before")
        assert server.received() == [(f"t/{device_id}/hb", b"before")]
        ended = []
        device.client.on_disconnect = lambda *a: ended.append(a[3])
        # CRL + ACL deny + SIGHUP, then the open session is taken over and ended
        secure_broker.security.revoke(device_id)
        deadline = time.monotonic() + 5
        while not ended and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ended, "the revoked device's session is still open"
        device.client.publish(f"t/{device_id}/hb", b"after", qos=1)
        assert server.received() == []
        assert refused(lambda: device_client(secure_broker, device_id, cred.cert_der,
                                             cred.key_der, tmp_path, client_id="again")) == "tls"
        assert secure_broker.ca.is_revoked(device_id)
        assert f"user {device_id}" in (secure_broker.config_dir / "acl").read_text()
        secure_broker.security.revoke(device_id)  # idempotent
    finally:
        device.close()
        server.close()


def test_certificates_of_another_ca_and_no_certificate_are_refused(secure_broker, tmp_path):
    other = CertificateAuthority(tmp_path / "other-pki")
    other.init()
    assert refused(lambda: connect_device(secure_broker, tmp_path, ca=other)[2]) == "tls"

    def no_certificate():
        client = Client("nocert")
        client.client.tls_set(ca_certs=str(secure_broker.ca.root_cert_path))
        return client.connect(secure_broker.host, secure_broker.tls_port)

    assert refused(no_certificate) == "tls"


def test_an_expired_certificate_is_refused(secure_broker, tmp_path):
    from datetime import UTC, datetime, timedelta

    past = CertificateAuthority(secure_broker.ca.dir,
                                clock=lambda: datetime.now(UTC) - timedelta(days=30))
    device_id = new_device_id()
    cred = past.issue_device(device_id, days=2)  # valid from 30 days ago for two days
    assert refused(lambda: device_client(secure_broker, device_id, cred.cert_der, cred.key_der,
                                         tmp_path)) == "tls"


def test_password_accounts_on_the_dev_listener(secure_broker):
    assert refused(lambda: server_client(secure_broker)) == "accepted"
    assert refused(lambda: server_client(secure_broker, password="wrong-password-123")) \
        == "connack"
    anonymous = Client("anon")
    assert refused(lambda: anonymous.connect(secure_broker.host, secure_broker.dev_port)) \
        == "connack"


def test_an_open_session_is_silenced_by_the_acl_even_without_the_takeover(secure_broker,
                                                                          tmp_path):
    from fleet_server.adapters.broker_security import BrokerSecurity

    device_id, _, device = connect_device(secure_broker, tmp_path)
    server = server_client(secure_broker)
    server.subscribe(*topics.server_filters())
    try:
        no_takeover = BrokerSecurity(secure_broker.config_dir, secure_broker.ca,
                                     broker_pid=secure_broker.process.pid,
                                     disconnect=lambda device_id: False)
        no_takeover.revoke(device_id)
        time.sleep(0.5)
        device.publish(f"t/{device_id}/hb", b"after")  # still connected: dropped by the ACL
        assert device.client.is_connected() and server.received() == []
    finally:
        device.close()
        server.close()
