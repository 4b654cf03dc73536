"""MicroPython's TLS with the provisioned files, against the generated Mosquitto: the DER
certificate and key are accepted and the broker answers CONNECT; the server is really checked
(CERT_REQUIRED with the fleet root and the host name); PEM files are refused by the runtime."""

import subprocess

import pytest
from secure_broker import new_device_id

pytestmark = [pytest.mark.broker, pytest.mark.micropython]

# What firmware/main.py's tls_context does, then one MQTT CONNECT (client id "x").
SCRIPT = """
import socket, ssl, sys
def rd(p):
    with open(p, 'rb') as f:
        return f.read()
d, port, host = sys.argv[1], int(sys.argv[2]), sys.argv[3]
try:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_cert_chain(rd(d + '/cert'), rd(d + '/key'))
    ctx.load_verify_locations(cadata=rd(d + '/ca'))
    ctx.verify_mode = ssl.CERT_REQUIRED
    s = socket.socket()
    s.connect(socket.getaddrinfo('127.0.0.1', port)[0][-1])
    t = ctx.wrap_socket(s, server_hostname=host)
    t.write(b'\\x10\\x0d\\x00\\x04MQTT\\x04\\x02\\x00\\x1e\\x00\\x01x')
    print('CONNACK', t.read(4))
except Exception as err:
    print('REFUSED', repr(err))
"""


def run_tls(micropython_bin, tmp_path, broker, cert, key, ca, host="localhost") -> str:
    folder = tmp_path / "files"
    folder.mkdir(exist_ok=True)
    for name, data in (("cert", cert), ("key", key), ("ca", ca)):
        (folder / name).write_bytes(data)
    script = tmp_path / "tls.py"
    script.write_text(SCRIPT)
    out = subprocess.run([micropython_bin, str(script), str(folder), str(broker.tls_port),
                          host], capture_output=True, text=True, timeout=60)
    return out.stdout + out.stderr


def test_the_provisioned_der_files_connect_and_the_server_is_checked(
        secure_broker, micropython_bin, tmp_path):
    ca = secure_broker.ca
    cred = ca.issue_device(new_device_id())
    root = ca.root_der_path.read_bytes()
    ok = run_tls(micropython_bin, tmp_path, secure_broker, cred.cert_der, cred.key_der, root)
    assert "CONNACK b' \\x02\\x00\\x00'" in ok, ok
    wrong_name = run_tls(micropython_bin, tmp_path, secure_broker, cred.cert_der,
                         cred.key_der, root, host="broker.elsewhere.example")
    assert "REFUSED" in wrong_name and "does not match" in wrong_name, wrong_name
    from fleet_server.adapters.pki import CertificateAuthority

    other = CertificateAuthority(tmp_path / "other")
    other.init()
    foreign_root = run_tls(micropython_bin, tmp_path, secure_broker, cred.cert_der,
                           cred.key_der, other.root_der_path.read_bytes())
    assert "REFUSED" in foreign_root and "not correctly signed" in foreign_root, foreign_root


def test_pem_files_are_refused_by_micropython(secure_broker, micropython_bin, tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cred = secure_broker.ca.issue_device(new_device_id())
    pem = x509.load_der_x509_certificate(cred.cert_der).public_bytes(serialization.Encoding.PEM)
    out = run_tls(micropython_bin, tmp_path, secure_broker, pem, cred.key_der,
                  secure_broker.ca.root_der_path.read_bytes())
    assert "REFUSED" in out and "invalid cert" in out, out
