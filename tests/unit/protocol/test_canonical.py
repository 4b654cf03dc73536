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
