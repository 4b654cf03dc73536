import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import canonical
from protocol.errors import ProtocolError

keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=8)
scalars = (st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
           | st.text(max_size=20))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(keys, inner, max_size=4), max_leaves=12)
shallow = values.filter(lambda v: _depth(v) <= canonical.MAX_DEPTH)


def _depth(value):
    if isinstance(value, dict):
        return 1 + max([_depth(v) for v in value.values()] or [0])
    if isinstance(value, list):
        return 1 + max([_depth(v) for v in value] or [0])
    return 0


@given(shallow)
def test_any_json_reader_reads_canonical_bytes_back_to_the_same_value(value):
    assert json.loads(canonical.encode(value)) == value


@given(st.dictionaries(keys, scalars, max_size=8))
def test_key_order_of_the_dict_does_not_change_the_bytes(mapping):
    reversed_order = dict(reversed(list(mapping.items())))
    assert canonical.encode(mapping) == canonical.encode(reversed_order)


def test_the_encoding_is_exactly_the_documented_one():
    value = {"b": [1, True, None], "a": "é\"\\\n\x7f", "c": {"z": -3, "y": ""}}
    assert canonical.encode(value) == (
        '{"a":"é\\"\\\\\\u000a\\u007f","b":[1,true,null],"c":{"y":"","z":-3}}'.encode())


@pytest.mark.parametrize("value,code", [
    (1.5, "bad_type"), (b"x", "bad_type"), (2**53, "out_of_range"), ({"A": 1}, "malformed"),
    ({"": 1}, "malformed"), ({1: 1}, "malformed"), ([[[[[1]]]]], "malformed"),
])
def test_values_json_cannot_carry_exactly_are_refused(value, code):
    with pytest.raises(ProtocolError) as err:
        canonical.encode(value)
    assert err.value.code == code


def test_the_mac_input_leaves_out_only_the_mac():
    message = {"t": "x", "mac": "00", "a": 1}
    assert canonical.encode_without(message, "mac") == b'{"a":1,"t":"x"}'


def _slow(value):
    out = []
    canonical._value(value, out, 0)
    return "".join(out).encode("utf-8")


def _outcome(encode, value):
    try:
        return encode(value)
    except ProtocolError as err:
        return err.code


odd_text = st.text(alphabet=st.sampled_from("a\"\\\n\t\x00\x1f\x7f\u2028é\ud800\U0001f600"),
                   max_size=6)
any_keys = keys | st.text(max_size=3) | st.integers(0, 3)
anything = st.recursive(
    scalars | odd_text | st.floats() | st.integers() | st.binary(max_size=2),
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner)
    | st.dictionaries(any_keys, inner, max_size=3), max_leaves=10)


@pytest.mark.skipif(canonical._dumps is None, reason="the C encoder is CPython's")
@given(anything)
def test_the_fast_path_writes_the_same_bytes_and_refuses_the_same_values(value):
    assert _outcome(canonical.encode, value) == _outcome(_slow, value)


@pytest.mark.skipif(canonical._dumps is None, reason="the C encoder is CPython's")
@pytest.mark.parametrize("value", [
    {"a": "line\nbreak"}, {"a": "\x7f"}, {"a": "\ud800"}, {"A": 1}, {"a": 2**53},
    {"a": 1.0}, {"a": True, "b": [None, "x"]}, [[[[1]]]], [[[[[1]]]]],
])
def test_the_fast_path_hands_over_what_it_would_write_differently(value):
    assert _outcome(canonical.encode, value) == _outcome(_slow, value)
