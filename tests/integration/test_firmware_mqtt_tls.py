"""The terminal's MQTT client (firmware/terminal/mqtt) over TLS with a client certificate, on
the MicroPython binary and on CPython, against a Mosquitto of its own that requires one: it
connects to a broker it verifies, and refuses (and keeps retrying) a broker signed by another CA
or under another name."""

import datetime
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from mqtt_agents import start_agent  # noqa: F401 (fixture)
from polling import eventually

from fleet_server.adapters.mosquitto import find_mosquitto, free_port

pytestmark = [pytest.mark.micropython, pytest.mark.broker]


def _make_pki(directory: Path, hostname: str):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    der, pem = serialization.Encoding.DER, serialization.Encoding.PEM

    def cert(name, key, issuer_name, issuer_key, ca, san=None):
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]),
                                            critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    def key_bytes(key, encoding, fmt=serialization.PrivateFormat.TraditionalOpenSSL):
        return key.private_bytes(encoding, fmt, serialization.NoEncryption())

    ca_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = cert("test CA", ca_key, "test CA", ca_key, True)
    server = cert(hostname, server_key, "test CA", ca_key, False, san=hostname)
    client = cert("terminal-1", client_key, "test CA", ca_key, False)
    files = {
        "ca.pem": ca.public_bytes(pem), "ca.der": ca.public_bytes(der),
        "server.pem": server.public_bytes(pem),
        "server.key": key_bytes(server_key, pem),
        "client.crt.pem": client.public_bytes(pem), "client.crt.der": client.public_bytes(der),
        "client.key.pem": key_bytes(client_key, pem, serialization.PrivateFormat.PKCS8),
        "client.key.der": key_bytes(client_key, der),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (directory / name).write_bytes(data)
        os.chmod(directory / name, 0o644)


@pytest.fixture(scope="module")
def tls_broker():
    binary = find_mosquitto()
    if not binary:
        pytest.skip("mosquitto not installed")
    workdir = Path(tempfile.mkdtemp(prefix="mqtt-tls-"))
    os.chmod(workdir, 0o755)
    _make_pki(workdir / "pki", "localhost")
    _make_pki(workdir / "other", "localhost")
    shutil.copytree(workdir / "pki", workdir / "wrongca")  # our client cert, but trusts a CA
    shutil.copy(workdir / "other/ca.der", workdir / "wrongca/ca.der")  # the broker does not use
    port = free_port()
    (workdir / "mosquitto.conf").write_text("\n".join([
        "per_listener_settings false", "allow_anonymous true", "set_tcp_nodelay true",
        "log_type error", "log_type warning", "log_dest stderr",
        f"listener {port} 127.0.0.1",
        f"cafile {workdir}/pki/ca.pem", f"certfile {workdir}/pki/server.pem",
        f"keyfile {workdir}/pki/server.key", "require_certificate true", ""]))
    log = open(workdir / "mosquitto.log", "ab")
    proc = subprocess.Popen([binary, "-c", str(workdir / "mosquitto.conf")], stdout=log,
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise AssertionError((workdir / "mosquitto.log").read_text()) from None
            time.sleep(0.05)
    yield port, workdir
    proc.terminate()
    proc.wait(5)
    log.close()
    shutil.rmtree(workdir, ignore_errors=True)


def test_tls_with_client_certificate_and_verified_broker(tls_broker, start_agent):  # noqa: F811
    port, workdir = tls_broker
    cid = "tls-" + uuid.uuid4().hex[:8]
    agent = start_agent(port, cid, 1000, ("tls", str(workdir / "pki"), "localhost"))
    agent.expect("CONNECTED 1 session=0", timeout=30)
    agent.expect(f"RECEIVED test/{cid}/echo ping-1")


@pytest.mark.parametrize("pki,hostname", [("wrongca", "localhost"), ("pki", "broker.invalid")])
def test_tls_refuses_a_broker_it_cannot_verify(
        tls_broker, start_agent, pki, hostname):  # noqa: F811
    """CERT_REQUIRED really checks: a broker signed by another CA, or under another name, is
    refused (MicroPython would accept both with its default CERT_NONE)."""
    port, workdir = tls_broker
    agent = start_agent(port, "tls-bad-" + uuid.uuid4().hex[:8], 500,
                        ("tls", str(workdir / pki), hostname))
    agent.expect("ERROR", timeout=30)

    def errors():  # and it keeps trying, with backoff
        agent.drain()
        return sum(line.startswith("ERROR") for line in agent.output().splitlines())

    eventually(errors, until=lambda n: n >= 2, timeout=30, what="a second refused attempt")
    assert "CONNECTED" not in agent.output()
