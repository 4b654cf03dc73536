import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC
from hypothesis import given
from hypothesis import strategies as st

from protocol import aes
from protocol.cmac import aes_cmac, subkeys

VECTORS = json.loads((Path(__file__).resolve().parents[3] / "protocol" / "vectors"
                      / "cmac.json").read_text())


@pytest.mark.parametrize("ex", VECTORS["examples"], ids=lambda e: e["name"])
def test_sp800_38b_examples(ex):
    tag = aes_cmac(bytes.fromhex(ex["key"]), bytes.fromhex(ex["msg"]))
    assert tag.hex() == ex["tag"]


@pytest.mark.parametrize("sk", VECTORS["subkeys"], ids=lambda s: str(len(s["key"]) * 4))
def test_sp800_38b_subkeys(sk):
    k1, k2 = subkeys(bytes.fromhex(sk["key"]))
    assert (k1.hex(), k2.hex()) == (sk["k1"], sk["k2"])


def test_every_vector_names_a_listed_source():
    ids = {s["id"] for s in VECTORS["source"]}
    assert all(v["src"] in ids for v in VECTORS["examples"] + VECTORS["subkeys"])


@given(key=st.sampled_from([16, 32]).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
       msg=st.binary(max_size=200))
def test_matches_the_cryptography_package(key, msg):
    ref = CMAC(algorithms.AES(key))
    ref.update(msg)
    assert aes_cmac(key, msg) == ref.finalize()


@given(key=st.sampled_from([16, 32]).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
       blocks=st.integers(1, 12).flatmap(lambda n: st.binary(min_size=16 * n,
                                                              max_size=16 * n)))
def test_cbc_mac_matches_the_cryptography_package(key, blocks):
    ref = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).encryptor()
    assert aes.cbc_mac(key, blocks) == (ref.update(blocks) + ref.finalize())[-16:]


def test_refuses_aes192_like_micropython():
    with pytest.raises(ValueError):
        aes_cmac(bytes(24), b"x")


def test_aes_shim_and_xor():
    # FIPS-197 appendix C.1 known answer, through the shim every module uses.
    key = bytes(range(16))
    pt = bytes.fromhex("00112233445566778899aabbccddeeff")
    assert aes.ecb_encryptor(key)(pt).hex() == "69c4e0d86a7b0430d8cdb78070b4c55a"
    assert aes.xor_bytes(b"\x0f\xf0", b"\xff\xff") == b"\xf0\x0f"
    assert aes.xor_bytes(b"", b"") == b""
    with pytest.raises(ValueError):
        aes.xor_bytes(b"a", b"ab")
    with pytest.raises(ValueError):
        aes.ecb_encryptor(key)(b"short")
