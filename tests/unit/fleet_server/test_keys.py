from hypothesis import given, settings
from hypothesis import strategies as st

from fleet_server.service_layer.keys import KeyStore
from protocol import auth, dukpt, messages

counters = st.integers(1, 0xFFFF0000).filter(dukpt.is_valid_counter)


@settings(max_examples=200)
@given(st.lists(counters, min_size=1, max_size=20))
def test_cached_walk_gives_the_standard_keys_whatever_the_order(sequence):
    keys = KeyStore("unit-test-master-secret-0123456789", "0000A001")
    kid = keys.initial_key_id(7)
    bdk = keys.bdk("0000A001")
    for counter in sequence:
        request_key, result_key = keys.mac_keys(kid, counter)
        assert request_key == auth.dukpt_mac_key(bdk, bytes.fromhex(kid), counter,
                                                 messages.DUKPT_REQUEST)
        assert result_key == auth.dukpt_mac_key(bdk, bytes.fromhex(kid), counter,
                                                messages.DUKPT_RESULT)


def test_keys_differ_per_bdk_and_per_device():
    a = KeyStore("secret-a-0123456789-0123456789-xx", "0000A001")
    b = KeyStore("secret-b-0123456789-0123456789-xx", "0000A001")
    assert a.bdk("0000A001") != b.bdk("0000A001") != a.bdk("0000A002")
    assert a.initial_key(a.initial_key_id(1)) != a.initial_key(a.initial_key_id(2))
    assert a.command_key("CT4F7KQ2MZ1") != a.command_key("CT4F7KQ2MZ1", 2)
