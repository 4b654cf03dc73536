"""fleet_server/adapters/pki.py: the fleet CA, device and broker certificates, CRL, renewal, and the
refusal of malformed, foreign, expired or revoked certificates and malformed requests."""

import os
import stat
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from secure_broker import new_device_id

from fleet_server.adapters.pki import CertificateAuthority, PkiError, load_certificate


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    ca = CertificateAuthority(tmp_path_factory.mktemp("pki") / "ca")
    assert ca.init() is True
    assert ca.init() is False  # idempotent: the CA is never replaced by accident
    return ca


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_keys_are_private_and_folders_closed(ca):
    ca.issue_server(["broker.example.org"])
    for key in ("root/key.pem", "issuing/key.pem", "server/key.pem"):
        assert mode(ca.dir / key) == 0o600
    for folder in (ca.dir, ca.dir / "root", ca.dir / "issuing", ca.dir / "server"):
        assert mode(folder) == 0o700


def test_a_device_certificate_names_the_device_and_chains_to_the_root(ca):
    device_id = new_device_id()
    cred = ca.issue_device(device_id)
    cert = x509.load_der_x509_certificate(cred.cert_der)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == device_id
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    issuing = x509.load_pem_x509_certificate(ca.issuing_cert_path.read_bytes())
    root = x509.load_der_x509_certificate(ca.root_der_path.read_bytes())
    cert.verify_directly_issued_by(issuing)
    issuing.verify_directly_issued_by(root)
    key = serialization.load_der_private_key(cred.key_der, None)  # DER, as the board reads
    assert key.public_key() == cert.public_key()
    assert ca.verify_device_certificate(cred.cert_der) == device_id


def test_the_broker_certificate_covers_loopback_and_given_names(ca):
    cert_path, _ = ca.issue_server(["broker.example.org", "10.0.0.5"])
    chain = x509.load_pem_x509_certificates(cert_path.read_bytes())
    assert len(chain) == 2  # server + issuing CA, so a device holding only the root verifies
    sans = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = {str(n.value) for n in sans}
    assert {"127.0.0.1", "localhost", "broker.example.org", "10.0.0.5"} <= names


def test_revocation_lands_on_the_crl_and_renewal_is_refused(ca):
    device_id = new_device_id()
    first = ca.issue_device(device_id)
    renewed = ca.renew(device_id)
    assert renewed.serial != first.serial and renewed.key_der is None
    old_key = x509.load_der_x509_certificate(first.cert_der).public_key()
    assert x509.load_der_x509_certificate(renewed.cert_der).public_key() == old_key
    assert ca.revoke(device_id) is True and ca.revoke(device_id) is False
    crl = x509.load_pem_x509_crl(ca.crl_path.read_bytes())
    assert {first.serial, renewed.serial} <= {r.serial_number for r in crl}
    issuing = x509.load_pem_x509_certificate(ca.issuing_cert_path.read_bytes())
    assert crl.is_signature_valid(issuing.public_key())
    with pytest.raises(PkiError, match="revoked"):
        ca.verify_device_certificate(first.cert_der)
    with pytest.raises(PkiError, match="revoked"):
        ca.renew(device_id)
    with pytest.raises(PkiError, match="revoked"):
        ca.issue_device(device_id)


def test_renewal_with_a_new_key(ca):
    device_id = new_device_id()
    first = ca.issue_device(device_id)
    renewed = ca.renew(device_id, new_key=True)
    assert renewed.key_der and renewed.key_der != first.key_der
    assert ca.verify_device_certificate(renewed.cert_der) == device_id


def test_expired_and_not_yet_valid_certificates_are_refused(ca):
    past = CertificateAuthority(ca.dir, clock=lambda: datetime.now(UTC) - timedelta(days=10))
    expired = past.issue_device(new_device_id(), days=1)
    with pytest.raises(PkiError, match="expired on"):
        ca.verify_device_certificate(expired.cert_der)
    future = CertificateAuthority(ca.dir, clock=lambda: datetime.now(UTC) + timedelta(days=10))
    early = future.issue_device(new_device_id())
    with pytest.raises(PkiError, match="not valid yet"):
        ca.verify_device_certificate(early.cert_der)


def test_foreign_and_malformed_certificates_are_refused(ca, tmp_path):
    other = CertificateAuthority(tmp_path / "other")
    other.init()
    foreign = other.issue_device(new_device_id())
    with pytest.raises(PkiError, match="not issued by this fleet"):
        ca.verify_device_certificate(foreign.cert_der)
    good = ca.issue_device(new_device_id()).cert_der
    for bad, message in ((b"", "empty"), (b"\x30\x82\x01", "malformed"),
                         (good[:-10], "malformed"), (b"x" * 9000, "more than"),
                         (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                          "malformed")):
        with pytest.raises(PkiError, match=message):
            ca.verify_device_certificate(bad)
    with pytest.raises(PkiError, match="not a device id"):
        ca.issue_device("CT123")


def _csr(key, cn="x"):
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .sign(key, hashes.SHA256()))


def test_a_csr_is_signed_for_the_device_and_bad_ones_are_refused(ca):
    device_id = new_device_id()
    key = ec.generate_private_key(ec.SECP256R1())
    csr_pem = _csr(key).public_bytes(serialization.Encoding.PEM)
    cred = ca.sign_csr(device_id, csr_pem)
    cert = x509.load_der_x509_certificate(cred.cert_der)
    assert cert.public_key() == key.public_key()
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == device_id
    with pytest.raises(PkiError, match="malformed certificate request"):
        ca.sign_csr(device_id, b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
                    b"-----END CERTIFICATE REQUEST-----\n")
    with pytest.raises(PkiError, match="malformed certificate request"):
        ca.sign_csr(device_id, b"\x30\x03\x02\x01\x00")
    with pytest.raises(PkiError, match="empty or too large"):
        ca.sign_csr(device_id, b"")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(PkiError, match="P-256"):
        ca.sign_csr(device_id, _csr(rsa_key).public_bytes(serialization.Encoding.DER))
    tampered = bytearray(_csr(key).public_bytes(serialization.Encoding.DER))
    tampered[-5] ^= 0x01  # inside the signature
    with pytest.raises(PkiError):
        ca.sign_csr(device_id, bytes(tampered))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_are_a_certificate_or_a_clear_refusal(data):
    try:
        load_certificate(data)
    except PkiError as err:
        assert str(err)
