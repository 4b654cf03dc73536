import hashlib
import hmac
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.hmac256 import constant_time_equal, hmac_sha256

VECTORS = json.loads((Path(__file__).resolve().parents[3] / "protocol" / "vectors"
                      / "hmac_sha256.json").read_text())


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: f"case{c['case']}")
def test_rfc4231(case):
    mac = hmac_sha256(bytes.fromhex(case["key"]), bytes.fromhex(case["data"]))
    assert len(mac) == 32
    # Case 5 publishes only the first 128 bits of the tag.
    assert mac[:case.get("truncate_to", 32)].hex() == case["mac"]


def test_all_seven_cases_and_only_case_5_truncated():
    assert [c["case"] for c in VECTORS["cases"]] == [1, 2, 3, 4, 5, 6, 7]
    assert [c["case"] for c in VECTORS["cases"] if "truncate_to" in c] == [5]


@given(key=st.binary(max_size=200), msg=st.binary(max_size=300))
def test_matches_the_standard_library(key, msg):
    assert hmac_sha256(key, msg) == hmac.new(key, msg, hashlib.sha256).digest()


def test_takes_bytes_only():
    with pytest.raises(TypeError):
        hmac_sha256("key", b"msg")
    with pytest.raises(TypeError):
        constant_time_equal("a", b"a")


@given(a=st.binary(max_size=64), b=st.binary(max_size=64))
def test_constant_time_equal_agrees_with_equality(a, b):
    assert constant_time_equal(a, b) is (a == b)
    assert constant_time_equal(a, bytearray(a)) is True


@given(a=st.binary(min_size=1, max_size=64), data=st.data())
def test_any_single_bit_flip_is_detected(a, data):
    i = data.draw(st.integers(0, len(a) - 1))
    bit = data.draw(st.integers(0, 7))
    b = bytearray(a)
    b[i] ^= 1 << bit
    assert not constant_time_equal(a, bytes(b))


def test_length_mismatch_and_empty():
    assert constant_time_equal(b"", b"")
    assert not constant_time_equal(b"abc", b"ab")
    assert not constant_time_equal(b"", b"\x00")
    # A prefix is not equal, whichever side is longer.
    assert not constant_time_equal(b"\x00" * 16, b"\x00" * 17)
    assert not constant_time_equal(b"\x00" * 17, b"\x00" * 16)
