"""Releases: the manifest format, its signature, and the checks before one is published.

A release is a manifest (canonical JSON, protocol/canonical.py) listing every file of the
firmware with its size and SHA-256, signed offline with ECDSA P-256 over SHA-256 (raw r || s,
64 bytes, hex on the wire and in the database). The device checks the same signature with
protocol/ecdsa_p256.py against the release keys in its firmware. No I/O here: the CLI and the
API hand the bytes in; the store (a port) keeps them by SHA-256.
"""

import hashlib
import json
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from protocol import canonical, ecdsa_p256, messages, rollback

FORMAT = 1
MAX_MANIFEST = 16384  # the device refuses larger ones (firmware/terminal/update/manifest.py)
MAX_FILE = 1 << 20
MAX_FILES = 200


class ReleaseError(ValueError):
    """A release the server refuses; `code` says why (signature, hash, downgrade...)."""

    def __init__(self, code: str, detail: str):
        super().__init__(f"{code}: {detail}")
        self.code = code


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_version(text: str) -> tuple[int, ...]:
    parts = text.split(".") if isinstance(text, str) and 1 <= len(text) <= 24 else []
    if not parts or len(parts) > 4 or not all(p.isdigit() and len(p) <= 6 for p in parts):
        raise ReleaseError("version", f"{text!r} is not a version like 1.2.0")
    return tuple(int(p) for p in parts)


def build_manifest(version: str, models: list[str], files: list[dict],
                   protocol: int = messages.VERSION) -> bytes:
    """Canonical manifest bytes from [{"path", "size", "sha256"}] (sorted by path)."""
    parse_version(version)
    if not models:
        raise ReleaseError("models", "a release names the board models it supports")
    entries = sorted(({"path": f["path"], "size": f["size"], "sha256": f["sha256"]}
                      for f in files), key=lambda f: f["path"])
    data = canonical.encode({"format": FORMAT, "version": version, "protocol": protocol,
                             "models": sorted(set(models)), "files": entries})
    if len(data) > MAX_MANIFEST:
        raise ReleaseError("manifest", f"manifest of {len(data)} bytes over {MAX_MANIFEST}")
    return data


def parse_manifest(data: bytes) -> dict:
    """Manifest bytes -> dict; refuses what the device would refuse (same rules)."""
    if not isinstance(data, bytes) or not data or len(data) > MAX_MANIFEST:
        raise ReleaseError("manifest", "missing or over 16 KB")
    try:
        doc = json.loads(data)
    except ValueError as err:
        raise ReleaseError("manifest", "not JSON") from err
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ReleaseError("manifest", "unknown manifest format")
    if canonical.encode(doc) != data:
        raise ReleaseError("manifest", "not in canonical form")
    parse_version(doc.get("version"))
    models = doc.get("models")
    if not isinstance(models, list) or not models or not all(isinstance(m, str) for m in models):
        raise ReleaseError("manifest", "models must be a non-empty list of names")
    if doc.get("protocol") not in messages.SUPPORTED_VERSIONS:
        raise ReleaseError("manifest", f"protocol {doc.get('protocol')!r} not supported")
    files = doc.get("files")
    if not isinstance(files, list) or not 1 <= len(files) <= MAX_FILES:
        raise ReleaseError("manifest", "files must list 1 to 200 entries")
    paths = set()
    for entry in files:
        path, sha, size = entry.get("path"), entry.get("sha256"), entry.get("size")
        if (not isinstance(path, str) or not path or path.startswith("/") or ".." in path
                or path in ("manifest.json", "manifest.sig") or path in paths):
            raise ReleaseError("manifest", f"bad or duplicate path {path!r}")
        if not isinstance(sha, str) or len(sha) != 64 or any(c not in "0123456789abcdef"
                                                             for c in sha):
            raise ReleaseError("manifest", f"bad sha256 for {path}")
        if not isinstance(size, int) or not 0 <= size <= MAX_FILE:
            raise ReleaseError("manifest", f"bad size for {path}")
        paths.add(path)
    return doc


def public_key_bytes(public_key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(serialization.Encoding.X962,
                                   serialization.PublicFormat.UncompressedPoint)


def sign_manifest(private_key, manifest: bytes) -> str:
    """ECDSA P-256 / SHA-256 signature of the manifest bytes, raw r || s as 128 hex chars."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(private_key.sign(manifest, ec.ECDSA(hashes.SHA256())))
    return (r.to_bytes(32, "big") + s.to_bytes(32, "big")).hex()


def signature_ok(manifest: bytes, signature_hex: str | None, trusted_keys: list[bytes]) -> bool:
    if not signature_hex or len(signature_hex) != 128:
        return False
    try:
        raw = bytes.fromhex(signature_hex)
    except ValueError:
        return False
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    for key in trusted_keys:
        try:
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key)
            public.verify(der, manifest, ec.ECDSA(hashes.SHA256()))
            # The device runs the pure verifier: a signature it would refuse is refused here.
            return ecdsa_p256.verify(key, manifest, raw)
        except (InvalidSignature, ValueError):
            continue
    return False


@dataclass
class ReleaseCandidate:
    manifest: bytes
    signature: str | None
    files: dict[str, bytes]  # sha256 -> content, for the files the store does not hold yet


def check_release(candidate: ReleaseCandidate, trusted_keys: list[bytes], have_blob,
                  latest_version: str | None, allow_downgrade: bool) -> dict:
    """Every check before publication; returns the parsed manifest or raises ReleaseError.

    have_blob(sha) -> bool says whether the store already holds a file's content."""
    if not candidate.signature:
        raise ReleaseError("unsigned", "the release has no signature")
    if not trusted_keys:
        raise ReleaseError("signature", "the server has no release public key to check with")
    if not signature_ok(candidate.manifest, candidate.signature, trusted_keys):
        raise ReleaseError("signature", "the signature does not verify with a release key")
    doc = parse_manifest(candidate.manifest)
    for entry in doc["files"]:
        content = candidate.files.get(entry["sha256"])
        if content is None:
            if not have_blob(entry["sha256"]):
                raise ReleaseError("missing", f"no content for {entry['path']}")
            continue
        if sha256_hex(content) != entry["sha256"] or len(content) != entry["size"]:
            raise ReleaseError("hash", f"{entry['path']} does not match its hash or size")
    for sha, content in candidate.files.items():
        if sha256_hex(content) != sha:
            raise ReleaseError("hash", f"an uploaded file is not the content of {sha[:12]}")
    if latest_version and not allow_downgrade:
        if parse_version(doc["version"]) < parse_version(latest_version):
            raise ReleaseError("downgrade", f"{doc['version']} is older than {latest_version}")
    return doc


def sign_rollback(private_key, version: str, manifest: bytes) -> str:
    """The release key's permission for terminals to go back to this release (r || s, hex)."""
    return sign_manifest(private_key, rollback.statement(version, sha256_hex(manifest)))


def check_rollback(version: str, manifest_sha: str, signature: str | None,
                   trusted_keys: list[bytes]) -> None:
    """ReleaseError("rollback") unless a release key signed the statement naming this release:
    the terminals check the same signature, and refuse a downgrade without it."""
    if not signature_ok(rollback.statement(version, manifest_sha), signature, trusted_keys):
        raise ReleaseError("rollback", f"the rollback statement for {version} does not verify "
                                       "with a release key")


def delta_bytes(new_doc: dict, old_doc: dict | None) -> tuple[int, int]:
    """(bytes a terminal on old_doc downloads for new_doc, bytes of the full set): the same
    rule as the device (firmware/terminal/update/manifest.to_fetch)."""
    held = {f["sha256"] for f in (old_doc or {}).get("files", [])}
    seen, delta = set(), 0
    for f in new_doc["files"]:
        if f["sha256"] not in held and f["sha256"] not in seen:
            delta += f["size"]
        seen.add(f["sha256"])
    return delta, sum(f["size"] for f in new_doc["files"])
