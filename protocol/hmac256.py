# HMAC-SHA256 (RFC 2104) on hashlib.sha256 alone: MicroPython 1.29 ships no hmac module, and
# the server must compute byte-identical tags, so both runtimes use this code.

import hashlib

_BLOCK = 64  # SHA-256 input block size in bytes
_IPAD = int.from_bytes(b"\x36" * _BLOCK, "big")
_OPAD = int.from_bytes(b"\x5c" * _BLOCK, "big")


def _sha256(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def hmac_sha256(key, msg):
    if not isinstance(key, (bytes, bytearray)) or not isinstance(msg, (bytes, bytearray)):
        raise TypeError("hmac_sha256 takes bytes")
    key = bytes(key)
    if len(key) > _BLOCK:
        key = _sha256(key)
    k = int.from_bytes(key + bytes(_BLOCK - len(key)), "big")
    inner = _sha256((k ^ _IPAD).to_bytes(_BLOCK, "big"), bytes(msg))
    return _sha256((k ^ _OPAD).to_bytes(_BLOCK, "big"), inner)


def constant_time_equal(a, b):
    """True when a and b hold the same bytes. The running time depends on the lengths only,
    never on where the first difference is (a MAC check must not leak how many bytes of a
    forged tag were right). Lengths are not secret: a length mismatch is simply False."""
    if not isinstance(a, (bytes, bytearray)) or not isinstance(b, (bytes, bytearray)):
        raise TypeError("constant_time_equal takes bytes")
    diff = len(a) ^ len(b)
    if diff:
        b = a  # still walk the whole of a, so timing does not hint at the expected content
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0
