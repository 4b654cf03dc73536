# Release manifests on the device: parse, check against the terminal (model, protocol, version)
# and work out which files must be downloaded. Pure: no I/O. MicroPython and CPython.
#
# A manifest is canonical JSON (protocol.canonical):
#   {"format": 1, "version": "1.2.0", "protocol": 1, "models": ["esp32_gm65", ...],
#    "files": [{"path": "terminal/app.mpy", "sha256": "<hex64>", "size": 1234}, ...]}
# The release signature is ECDSA P-256 over SHA-256 of those exact bytes; check_release checks
# it, and the rollback signature that alone lets an older release replace the running one.

import binascii
import json

MAX_MANIFEST = 16384  # bytes
MAX_FILES = 200
MAX_FILE_SIZE = 1 << 20
_PATH_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_./"
_HEX = "0123456789abcdef"


class ManifestError(Exception):
    """A manifest that is malformed, or not for this terminal; .code is the report reason."""

    def __init__(self, code, detail=""):
        super().__init__(code + (": " + detail if detail else ""))
        self.code = code


def parse_version(text):
    """ "1.2.10" -> (1, 2, 10); ManifestError for anything else."""
    if type(text) is not str or not (1 <= len(text) <= 24):
        raise ManifestError("manifest", "bad version")
    parts = text.split(".")
    out = []
    for part in parts:
        if not part or len(part) > 6 or any(ch not in "0123456789" for ch in part):
            raise ManifestError("manifest", "bad version")
        out.append(int(part))
    if len(out) > 4:
        raise ManifestError("manifest", "bad version")
    return tuple(out)


def _check_path(path):
    if type(path) is not str or not (1 <= len(path) <= 80):
        raise ManifestError("manifest", "bad path")
    for ch in path:
        if ch not in _PATH_CHARS:
            raise ManifestError("manifest", "bad path")
    if path.startswith("/") or ".." in path or "//" in path or path.endswith("/"):
        raise ManifestError("manifest", "bad path")
    if path in ("manifest.json", "manifest.sig"):
        raise ManifestError("manifest", "reserved path")


def _check_sha(value):
    if type(value) is not str or len(value) != 64:
        raise ManifestError("manifest", "bad sha256")
    for ch in value:
        if ch not in _HEX:
            raise ManifestError("manifest", "bad sha256")


def parse(data):
    """Manifest bytes -> dict, every field checked. Raises ManifestError("manifest")."""
    if not isinstance(data, (bytes, bytearray)) or len(data) > MAX_MANIFEST:
        raise ManifestError("manifest", "too large")
    try:
        doc = json.loads(bytes(data).decode())
    except Exception:  # bad UTF-8 or JSON: one error
        raise ManifestError("manifest", "not JSON") from None
    if type(doc) is not dict or doc.get("format") != 1:
        raise ManifestError("manifest", "unknown format")
    parse_version(doc.get("version"))
    if type(doc.get("protocol")) is not int:
        raise ManifestError("manifest", "bad protocol")
    models = doc.get("models")
    if type(models) is not list or not models or any(type(m) is not str for m in models):
        raise ManifestError("manifest", "bad models")
    files = doc.get("files")
    if type(files) is not list or not (1 <= len(files) <= MAX_FILES):
        raise ManifestError("manifest", "bad file list")
    seen = {}
    for entry in files:
        if type(entry) is not dict:
            raise ManifestError("manifest", "bad file entry")
        _check_path(entry.get("path"))
        _check_sha(entry.get("sha256"))
        size = entry.get("size")
        if type(size) is not int or not (0 <= size <= MAX_FILE_SIZE):
            raise ManifestError("manifest", "bad size")
        if entry["path"] in seen:
            raise ManifestError("manifest", "duplicate path")
        seen[entry["path"]] = True
    return doc


def check_target(doc, board, protocol_versions, current_version, allow_downgrade):
    """Raise ManifestError("model" | "protocol" | "downgrade") if the release does not fit."""
    if board not in doc["models"]:
        raise ManifestError("model", board)
    if doc["protocol"] not in protocol_versions:
        raise ManifestError("protocol", str(doc["protocol"]))
    if current_version and not allow_downgrade:
        if parse_version(doc["version"]) < parse_version(current_version):
            raise ManifestError("downgrade", current_version + " > " + doc["version"])


def current_files(doc):
    """{sha256: path} of a manifest (the running release's), for local copies."""
    out = {}
    if doc:
        for entry in doc.get("files") or ():
            out[entry.get("sha256")] = entry.get("path")
    return out


def to_fetch(doc, local_by_sha):
    """[(sha256, size)] to download: each distinct content the terminal does not already hold
    (whatever its path there), in manifest order."""
    out = []
    seen = {}
    for entry in doc["files"]:
        sha = entry["sha256"]
        if sha in local_by_sha or sha in seen:
            continue
        seen[sha] = True
        out.append((sha, entry["size"]))
    return out


def _signed(keys, data, sig_hex):
    from protocol import ecdsa_p256  # only now: the verifier's tables are not small

    try:
        signature = binascii.unhexlify(sig_hex)
    except (ValueError, TypeError):
        return False
    for key in keys:
        if ecdsa_p256.verify(key, data, signature):
            return True
    return False


def check_release(keys, data, sig_hex, sha, rel, dg):
    """(the manifest is signed by a release key, an older release may replace the running
    one). The second needs `dg`, the offer's rollback signature, over the rollback statement
    naming this release (protocol/rollback.py), by a release key too."""
    if not sig_hex or not _signed(keys, data, sig_hex):
        return False, False
    if type(dg) is not str or type(rel) is not str:
        return True, False
    from protocol import rollback

    return True, _signed(keys, rollback.statement(rel, sha), dg)
