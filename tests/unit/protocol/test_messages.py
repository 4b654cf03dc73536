import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import canonical, messages
from protocol.errors import CODES, ProtocolError

VECTOR_FILE = Path(messages.__file__).parent / "vectors" / "messages.json"
VECTORS = json.loads(VECTOR_FILE.read_text(encoding="utf-8"))["messages"]
BY_TYPE = {v["type"]: v for v in VECTORS}


def sample(mtype):
    return dict(json.loads(BY_TYPE[mtype]["payload"]))


def test_there_is_a_vector_for_every_message_type():
    assert sorted(BY_TYPE) == sorted(messages.MESSAGES)


@pytest.mark.parametrize("mtype", sorted(messages.MESSAGES))
def test_every_vector_parses_and_encodes_back_to_its_payload(mtype):
    vector = BY_TYPE[mtype]
    payload = vector["payload"].encode()
    message = messages.parse(payload, mtype)
    assert messages.encode(message) == payload
    assert canonical.encode_without(message, "mac") == vector["mac_input"].encode()


def test_build_refuses_a_debit_of_zero_cents():
    fields = sample("debit_req")
    del fields["t"], fields["v"], fields["mac"]
    fields["amt"] = 0
    with pytest.raises(ProtocolError) as err:
        messages.build("debit_req", fields)
    assert err.value.code == "out_of_range"


@pytest.mark.parametrize("mutate,code", [
    (lambda m: m.pop("amt"), "missing_field"),
    (lambda m: m.update(amt="12"), "bad_type"),
    (lambda m: m.update(amt=1.5), "bad_type"),
    (lambda m: m.update(amt=-1), "out_of_range"),
    (lambda m: m.update(amt=10**12), "out_of_range"),
    (lambda m: m.update(v=99), "bad_version"),
    (lambda m: m.update(t="nope"), "malformed"),
    (lambda m: m.update(extra=1), "unknown_field"),
    (lambda m: m.update(mac="XYZ"), "out_of_range"),
    (lambda m: m.update(tok="bad\ncode"), "malformed"),
    (lambda m: m.update(dev="ct4f7kq2mz1"), "malformed"),
])
def test_each_kind_of_bad_debit_gets_its_specific_code(mutate, code):
    message = sample("debit_req")
    mutate(message)
    with pytest.raises(ProtocolError) as err:
        messages.parse(json.dumps(message).encode(), "debit_req")
    assert err.value.code == code


def test_a_result_declines_with_a_reason_and_approves_without_one():
    result = sample("debit_res")
    assert result["st"] == "approved" and "code" not in result
    result["st"] = "declined"
    with pytest.raises(ProtocolError):
        messages.check(result)
    result["code"] = "insufficient_balance"
    assert messages.check(result) == "debit_res"


def test_payloads_over_the_limit_are_refused_before_parsing():
    with pytest.raises(ProtocolError) as err:
        messages.parse(b" " * (messages.MAX_PAYLOAD + 1))
    assert err.value.code == "too_large"
    with pytest.raises(ProtocolError) as err:
        messages.parse(b" " * 600, "debit_req")
    assert err.value.code == "too_large"


@settings(max_examples=500)
@given(st.binary(max_size=600))
def test_random_bytes_only_ever_raise_protocol_errors(data):
    try:
        messages.parse(data)
    except ProtocolError as err:
        assert err.code in CODES


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3), max_leaves=8)


@settings(max_examples=500)
@given(st.sampled_from(sorted(messages.MESSAGES)), st.text(max_size=6), json_values)
def test_valid_messages_with_one_field_replaced_only_raise_protocol_errors(mtype, key, value):
    message = sample(mtype)
    field = key if key else sorted(message)[len(message) % len(message)]
    message[field] = value
    try:
        messages.parse(json.dumps(message).encode())
    except ProtocolError as err:
        assert err.code in CODES


@settings(max_examples=300)
@given(st.sampled_from(sorted(messages.MESSAGES)), st.integers(0, 511), st.integers(0, 255))
def test_valid_payloads_with_one_byte_changed_only_raise_protocol_errors(mtype, pos, byte):
    payload = bytearray(BY_TYPE[mtype]["payload"].encode())
    payload[pos % len(payload)] = byte
    try:
        messages.parse(bytes(payload))
    except ProtocolError as err:
        assert err.code in CODES


def test_deeply_nested_json_is_malformed_not_a_crash():
    with pytest.raises(ProtocolError) as err:
        messages.parse(b"[" * 5000)
    assert err.value.code == "malformed"
