"""protocol/ecdsa_p256.py on CPython: the published vectors, each cross-checked with the
`cryptography` package, and random keys, messages and tamperings against it."""

import json
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import ecdsa_p256

VECTORS = json.loads((Path(__file__).resolve().parents[3] / "protocol" / "vectors"
                      / "ecdsa_p256.json").read_text())
RFC = VECTORS["rfc6979"]
RFC_KEY = bytes.fromhex("04" + RFC["ux"] + RFC["uy"])


def reference_verify(key_hex: str, msg: bytes, sig_hex: str) -> bool:
    """The same question put to OpenSSL through `cryptography`."""
    try:
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(),
                                                              bytes.fromhex(key_hex))
        sig = bytes.fromhex(sig_hex)
        if len(sig) != 64:
            return False
        r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
        public.verify(encode_dss_signature(r, s), msg, ec.ECDSA(hashes.SHA256()))
        return True
    except (InvalidSignature, ValueError):
        return False


@pytest.mark.parametrize("vector", VECTORS["cavp_sigver"], ids=lambda v: v["qx"][:8])
def test_cavp_sigver_p256_sha256(vector):
    key_hex = "04" + vector["qx"] + vector["qy"]
    msg = bytes.fromhex(vector["msg"])
    expected = vector["result"] == "P"
    assert reference_verify(key_hex, msg, vector["r"] + vector["s"]) is expected
    assert ecdsa_p256.verify(bytes.fromhex(key_hex), msg,
                             bytes.fromhex(vector["r"] + vector["s"])) is expected


def test_cavp_vectors_are_the_whole_section():
    results = [v["result"] for v in VECTORS["cavp_sigver"]]
    assert len(results) == 15 and results.count("P") == 3


@pytest.mark.parametrize("sig", RFC["signatures"], ids=lambda s: s["message"])
def test_rfc6979_a25_signatures(sig):
    private = ec.derive_private_key(int(RFC["x"], 16), ec.SECP256R1())
    numbers = private.public_key().public_numbers()
    assert (numbers.x, numbers.y) == (int(RFC["ux"], 16), int(RFC["uy"], 16))
    # cryptography's deterministic (RFC 6979) signing gives the appendix's r and s exactly.
    der = private.sign(sig["message"].encode(),
                       ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    assert decode_dss_signature(der) == (int(sig["r"], 16), int(sig["s"], 16))
    assert ecdsa_p256.verify(RFC_KEY, sig["message"].encode(),
                             bytes.fromhex(sig["r"] + sig["s"]))


@pytest.mark.parametrize("vector", VECTORS["edge"], ids=lambda v: v["name"])
def test_edge_cases(vector):
    msg = bytes.fromhex(vector["msg"])
    expected = vector["result"] == "P"
    assert reference_verify(vector["key"], msg, vector["sig"]) is expected
    assert ecdsa_p256.verify(bytes.fromhex(vector["key"]), msg,
                             bytes.fromhex(vector["sig"])) is expected


def test_public_key_checks():
    assert ecdsa_p256.public_key_point(RFC_KEY) == (int(RFC["ux"], 16), int(RFC["uy"], 16))
    for bad in (b"", b"\x00", RFC_KEY[:-1], b"\x05" + RFC_KEY[1:], (0, 0), (1, 2, 3), "x"):
        with pytest.raises(ValueError):
            ecdsa_p256.public_key_point(bad)
    # x or y beyond p, even when congruent to a point's coordinate, is refused.
    x, y = ecdsa_p256.public_key_point(RFC_KEY)
    with pytest.raises(ValueError):
        ecdsa_p256.public_key_point((x, y + ecdsa_p256.P))


def test_hostile_inputs_return_false():
    sig = bytes.fromhex(RFC["signatures"][0]["r"] + RFC["signatures"][0]["s"])
    for key, msg, signature in ((RFC_KEY, b"sample", None), (None, b"sample", sig),
                                (RFC_KEY, b"sample", "ab" * 64), (RFC_KEY, b"sample", (1,)),
                                (RFC_KEY, b"sample", (1.0, 2))):
        assert ecdsa_p256.verify(key, msg, signature) is False
    assert ecdsa_p256.verify_digest(RFC_KEY, b"short", sig) is False


KEYS = [ec.generate_private_key(ec.SECP256R1()) for _ in range(4)]


def raw_key(private) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return private.public_key().public_bytes(serialization.Encoding.X962,
                                             serialization.PublicFormat.UncompressedPoint)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 3), st.binary(max_size=300), st.integers(0, 511))
def test_random_signatures_agree_with_openssl(key_index, msg, flip):
    private = KEYS[key_index]
    r, s = decode_dss_signature(private.sign(msg, ec.ECDSA(hashes.SHA256())))
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert ecdsa_p256.verify(raw_key(private), msg, sig)
    tampered = bytearray(sig)
    tampered[flip // 8] ^= 1 << (flip % 8)
    assert ecdsa_p256.verify(raw_key(private), msg, bytes(tampered)) is False
    assert ecdsa_p256.verify(raw_key(KEYS[(key_index + 1) % 4]), msg, sig) is False
