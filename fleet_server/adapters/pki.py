"""The fleet's device PKI: a root CA, an issuing CA, device and broker certificates, a CRL.

    ca = CertificateAuthority("pki")        # a directory, created 0700
    ca.init()                               # root + issuing CA (idempotent)
    cred = ca.issue_device("CT0123456789")  # ECDSA P-256 key + cert, CN = device id, DER
    ca.issue_server(["broker.example"])     # broker cert: SAN 127.0.0.1, localhost + names
    ca.revoke("CT0123456789")               # -> crl.pem regenerated
    ca.renew("CT0123456789")                # new certificate for the device's key

Everything is ECDSA P-256 over SHA-256: the board's mbedTLS verifies it quickly and the
firmware release signatures use the same curve. The device receives DER (MicroPython's TLS
reads DER, not PEM) and one trust anchor, the root (a DER buffer holds one certificate); the
broker presents its certificate followed by the issuing CA so the chain reaches that root.

Private keys are written 0600 in 0700 folders and never printed or logged. The root key only
signs the issuing CA; an operator can move root/key.pem offline once `init` has run.
"""

import fcntl
import json
import os
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fleet_server.adapters.secure_files import write_private, write_public
from fleet_server.adapters.x509_tools import (  # noqa: F401  (PkiError, load_certificate: public here)
    DeviceCredentials,
    PkiError,
    dn,
    load_certificate,
    load_csr,
    new_key,
    pem_key,
    sign,
)
from protocol import tokens

ROOT_DAYS, ISSUING_DAYS, LEAF_DAYS = 20 * 365, 10 * 365, 5 * 365
CRL_DAYS = 30  # Mosquitto refuses every client once the CRL expires: refresh it before then


class CertificateAuthority:
    def __init__(self, pki_dir, org: str = "Counter Terminals Fleet", clock=None):
        self.dir = Path(pki_dir)
        self.org = org
        self._clock = clock or (lambda: datetime.now(UTC))

    # -- layout ---------------------------------------------------------------------------
    root_cert_path = property(lambda self: self.dir / "root" / "cert.pem")
    issuing_cert_path = property(lambda self: self.dir / "issuing" / "cert.pem")
    ca_bundle_path = property(lambda self: self.dir / "ca-bundle.pem")  # broker's cafile
    root_der_path = property(lambda self: self.dir / "root.der")  # devices' trust anchor
    crl_path = property(lambda self: self.dir / "crl.pem")
    server_cert_path = property(lambda self: self.dir / "server" / "cert.pem")
    server_key_path = property(lambda self: self.dir / "server" / "key.pem")
    # Append-only journal of issued and revoked certificates, one JSON object a line: a batch
    # of thousands costs one short append per device, not a rewrite of a growing file.
    _index_path = property(lambda self: self.dir / "issued.jsonl")

    @property
    def initialized(self) -> bool:
        return self.issuing_cert_path.exists() and (self.dir / "issuing" / "key.pem").exists()

    def init(self) -> bool:
        """Create the root and issuing CA and an empty CRL; False if they already exist."""
        with self._locked():
            if self.initialized:
                return False
            now = self._clock()
            root_key, issuing_key = new_key(), new_key()
            root_name = dn(self.org + " Root CA", self.org)
            root = sign(root_name, root_name, root_key.public_key(), root_key, now,
                              ROOT_DAYS, ca_path_len=1)
            issuing = sign(dn(self.org + " Issuing CA", self.org), root_name,
                                 issuing_key.public_key(), root_key, now, ISSUING_DAYS,
                                 ca_path_len=0, issuer_key=root_key.public_key())
            write_private(self.dir / "root" / "key.pem", pem_key(root_key))
            write_public(self.root_cert_path, root.public_bytes(serialization.Encoding.PEM))
            write_private(self.dir / "issuing" / "key.pem", pem_key(issuing_key))
            write_public(self.issuing_cert_path, issuing.public_bytes(serialization.Encoding.PEM))
            write_public(self.root_der_path, root.public_bytes(serialization.Encoding.DER))
            write_public(self.ca_bundle_path, self.root_cert_path.read_bytes()
                         + self.issuing_cert_path.read_bytes())
            write_public(self._index_path, b"")
            self._write_crl({})
            return True

    # -- issuing --------------------------------------------------------------------------
    def issue_device(self, device_id: str, days: int = LEAF_DAYS) -> DeviceCredentials:
        """A fresh key pair and certificate for the device; the key is returned, not kept."""
        key = new_key()
        cred = self._issue_device_cert(device_id, key.public_key(), days)
        key_der = key.private_bytes(serialization.Encoding.DER,
                                    serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())
        return DeviceCredentials(device_id, cred.cert_der, key_der, cred.serial, cred.not_after)

    def sign_csr(self, device_id: str, csr_bytes: bytes, days: int = LEAF_DAYS
                 ) -> DeviceCredentials:
        """A certificate for a key the device made itself (the key never leaves it)."""
        csr = load_csr(csr_bytes)
        return self._issue_device_cert(device_id, csr.public_key(), days)

    def renew(self, device_id: str, days: int = LEAF_DAYS, new_key: bool = False
              ) -> DeviceCredentials:
        """A new certificate (new serial and validity) for the device's current key, or for a
        new key pair with new_key=True. The previous certificate stays valid until it expires
        or the device is revoked."""
        entries = self._index().get(device_id)
        if not entries:
            raise PkiError(f"no certificate was issued to {device_id}")
        if entries[-1].get("revoked"):
            raise PkiError(f"{device_id} is revoked: register a new device instead")
        if new_key:
            return self.issue_device(device_id, days)
        old = load_certificate((self.dir / "devices" / f"{device_id}.pem").read_bytes())
        return self._issue_device_cert(device_id, old.public_key(), days)

    def issue_server(self, names=(), days: int = LEAF_DAYS) -> tuple[Path, Path]:
        """The broker's certificate (SAN 127.0.0.1, localhost and `names`), written as a chain
        (server + issuing CA) with its key; returns (cert path, key path)."""
        self._require_init()
        key = new_key()
        sans: list[x509.GeneralName] = [x509.IPAddress(ip_address("127.0.0.1")),
                                        x509.DNSName("localhost")]
        for name in names:
            try:
                sans.append(x509.IPAddress(ip_address(name)))
            except ValueError:
                sans.append(x509.DNSName(name))
        issuing_key, issuing = self._issuing()
        cert = sign(dn(str(names[0]) if names else "localhost", self.org),
                          issuing.subject, key.public_key(), issuing_key, self._clock(), days,
                          eku=ExtendedKeyUsageOID.SERVER_AUTH, sans=sans,
                          issuer_key=issuing.public_key())
        write_private(self.server_key_path, pem_key(key))
        write_public(self.server_cert_path, cert.public_bytes(serialization.Encoding.PEM)
                     + issuing.public_bytes(serialization.Encoding.PEM))
        return self.server_cert_path, self.server_key_path

    # -- revocation -----------------------------------------------------------------------
    def revoke(self, device_id: str) -> bool:
        """Revoke every certificate of the device and rewrite the CRL; False if it was already
        revoked (idempotent)."""
        self._require_init()
        with self._locked():
            index = self._index()
            entries = index.get(device_id)
            if not entries:
                raise PkiError(f"no certificate was issued to {device_id}")
            changed = not all(entry.get("revoked") for entry in entries)
            if changed:
                at = self._clock().isoformat()
                self._append({"d": device_id, "revoked": at})
                for entry in entries:
                    entry.setdefault("revoked", at)
            self._write_crl(index)
            return changed

    def refresh_crl(self) -> Path:
        self._require_init()
        with self._locked():
            self._write_crl(self._index())
        return self.crl_path

    def is_revoked(self, device_id: str) -> bool:
        entries = self._index().get(device_id) or []
        return any(e.get("revoked") for e in entries)

    def verify_device_certificate(self, data: bytes) -> str:
        """The device id of a certificate we issued, still valid and not revoked; PkiError
        (malformed, not ours, expired, not yet valid, revoked) otherwise."""
        self._require_init()
        cert = load_certificate(data)
        _, issuing = self._issuing()
        try:
            cert.verify_directly_issued_by(issuing)
        except (ValueError, TypeError, Exception) as err:  # InvalidSignature has no message
            raise PkiError(f"certificate was not issued by this fleet's CA ({type(err).__name__})"
                           ) from None
        now = self._clock()
        if now > cert.not_valid_after_utc:
            raise PkiError(f"certificate expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
        if now < cert.not_valid_before_utc:
            raise PkiError("certificate is not valid yet")
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        device_id = str(cns[0].value) if cns else ""
        if not tokens.is_device_id(device_id):
            raise PkiError("certificate subject is not a device id")
        for entry in self._index().get(device_id, []):
            if entry["serial"] == format(cert.serial_number, "x") and entry.get("revoked"):
                raise PkiError(f"certificate of {device_id} is revoked")
        return device_id

    # -- internals ------------------------------------------------------------------------
    def _issue_device_cert(self, device_id, public_key, days) -> DeviceCredentials:
        if not tokens.is_device_id(device_id):
            raise PkiError(f"{device_id!r} is not a device id (CT + 8 characters + check)")
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise PkiError("device keys are ECDSA P-256")
        with self._locked():
            self._require_init()
            index = self._index()
            if any(e.get("revoked") for e in index.get(device_id, [])):
                raise PkiError(f"{device_id} is revoked: it gets no new certificate")
            issuing_key, issuing = self._issuing()
            cert = sign(dn(device_id, self.org), issuing.subject, public_key,
                              issuing_key, self._clock(), days,
                              eku=ExtendedKeyUsageOID.CLIENT_AUTH,
                              issuer_key=issuing.public_key())
            write_public(self.dir / "devices" / f"{device_id}.pem",
                         cert.public_bytes(serialization.Encoding.PEM))
            self._append({"d": device_id, "serial": format(cert.serial_number, "x"),
                          "not_after": cert.not_valid_after_utc.isoformat()})
        return DeviceCredentials(device_id, cert.public_bytes(serialization.Encoding.DER), None,
                                 cert.serial_number, cert.not_valid_after_utc)

    def _require_init(self) -> None:
        if not self.initialized:
            raise PkiError(f"no CA in {self.dir}: run `provision pki init --pki {self.dir}`")

    def _issuing(self):
        self._require_init()
        key = serialization.load_pem_private_key(
            (self.dir / "issuing" / "key.pem").read_bytes(), None)
        return key, x509.load_pem_x509_certificate(self.issuing_cert_path.read_bytes())

    def _index(self) -> dict:
        """device id -> [{"serial", "not_after", "revoked"?}] from the journal."""
        index: dict[str, list[dict]] = {}
        try:
            lines = self._index_path.read_bytes().splitlines()
        except FileNotFoundError:
            return index
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:  # a line torn by a crash mid-append: never completed
                continue
            entries = index.setdefault(record["d"], [])
            if "revoked" in record:
                for entry in entries:
                    entry.setdefault("revoked", record["revoked"])
            else:
                entries.append({"serial": record["serial"], "not_after": record["not_after"]})
        return index

    def _append(self, record: dict) -> None:
        line = json.dumps(record, sort_keys=True).encode() + b"\n"
        fd = os.open(self._index_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _write_crl(self, index: dict) -> None:
        issuing_key, issuing = self._issuing()
        now = self._clock()
        builder = (x509.CertificateRevocationListBuilder().issuer_name(issuing.subject)
                   .last_update(now - timedelta(minutes=5))
                   .next_update(now + timedelta(days=CRL_DAYS)))
        for entries in index.values():
            for entry in entries:
                if entry.get("revoked"):
                    builder = builder.add_revoked_certificate(
                        x509.RevokedCertificateBuilder().serial_number(int(entry["serial"], 16))
                        .revocation_date(datetime.fromisoformat(entry["revoked"])).build())
        crl = builder.sign(issuing_key, hashes.SHA256())
        write_public(self.crl_path, crl.public_bytes(serialization.Encoding.PEM))

    @contextmanager
    def _locked(self):
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.dir, 0o700)
        with open(self.dir / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
