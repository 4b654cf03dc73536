"""X.509 pieces of the fleet PKI: parsing hostile certificates and requests into clear errors,
and building certificates (P-256, SHA-256, the extensions a CA, a device or a broker needs)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

MAX_CERT_BYTES = 8192  # a P-256 device certificate is ~500 bytes; anything huge is hostile


class PkiError(Exception):
    """A refused operation or input, with a message meant for the operator."""


@dataclass(frozen=True)
class DeviceCredentials:
    device_id: str
    cert_der: bytes
    key_der: bytes | None  # None when only the certificate was renewed
    serial: int
    not_after: datetime


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def dn(common_name: str, org: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_certificate(data: bytes) -> x509.Certificate:
    """A certificate from PEM or DER bytes; PkiError with a clear message otherwise."""
    if not isinstance(data, bytes | bytearray) or not data:
        raise PkiError("certificate is empty")
    if len(data) > MAX_CERT_BYTES:
        raise PkiError(f"certificate is {len(data)} bytes, more than {MAX_CERT_BYTES}")
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(bytes(data))
        return x509.load_der_x509_certificate(bytes(data))
    except ValueError as err:
        raise PkiError(f"malformed certificate: {err}") from None


def load_csr(data: bytes) -> x509.CertificateSigningRequest:
    if not isinstance(data, bytes | bytearray) or not data or len(data) > MAX_CERT_BYTES:
        raise PkiError("certificate request is empty or too large")
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            csr = x509.load_pem_x509_csr(bytes(data))
        else:
            csr = x509.load_der_x509_csr(bytes(data))
    except ValueError as err:
        raise PkiError(f"malformed certificate request: {err}") from None
    if not csr.is_signature_valid:
        raise PkiError("certificate request signature does not verify")
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise PkiError("certificate request key must be ECDSA P-256")
    return csr


def sign(subject, issuer, public_key, signing_key, now, days, ca_path_len=None, eku=None,
         sans=None, issuer_key=None) -> x509.Certificate:
    """An X.509 v3 certificate: a CA (ca_path_len set) or a leaf (eku: client or server)."""
    if days <= 0:
        raise PkiError("validity must be at least one day")
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
               .public_key(public_key).serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(minutes=5))  # clocks of boards drift
               .not_valid_after(now + timedelta(days=days))
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False))
    if issuer_key is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key), False)
    is_ca = ca_path_len is not None
    builder = builder.add_extension(x509.BasicConstraints(is_ca, ca_path_len), True)
    builder = builder.add_extension(x509.KeyUsage(
        digital_signature=not is_ca, content_commitment=False,
        key_encipherment=False, data_encipherment=False, key_agreement=not is_ca,
        key_cert_sign=is_ca, crl_sign=is_ca, encipher_only=False, decipher_only=False),
        True)
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([eku]), False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), False)
    return builder.sign(signing_key, hashes.SHA256())
