import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import messages, seq, topics
from protocol.errors import ProtocolError

DEV = "CT4F7KQ2MZ8"


@pytest.mark.parametrize("mtype", sorted(messages.MESSAGES))
def test_every_message_type_has_one_topic_that_parses_back(mtype):
    name = topics.topic(DEV, mtype)
    assert name.startswith("t/" + DEV + "/")
    assert topics.parse(name) == (DEV, mtype)


def test_the_server_subscribes_to_every_upward_leaf_and_shares_all_but_the_live_view():
    filters = topics.server_filters()
    assert "t/+/debit/req" in filters and "t/+/hb" in filters
    assert "t/+/debit/res" not in filters
    shared = topics.server_filters(shared=True)
    # Every process sees heartbeats and status (each keeps the whole live view); requests and
    # reports go to one of them.
    assert {"t/+/hb", "t/+/status"} == {f for f in shared if not f.startswith("$share/")}
    assert "$share/fleet/t/+/debit/req" in shared and "$share/fleet/t/+/cmd/res" in shared


def test_a_device_subscribes_only_to_its_own_downward_topics():
    assert sorted(topics.device_filters(DEV)) == sorted(
        f"t/{DEV}/{leaf}" for leaf, e in topics.LEAVES.items() if e[1] == "down")


@pytest.mark.parametrize("name", ["", "x/CT1/hb", "t/CT1", "t//hb", "t/ct1/hb", "t/CT1/nope",
                                  "t/CT1/hb/extra", "t/+/hb", "t/#", "t/" + "A" * 70 + "/hb"])
def test_topics_outside_the_tree_are_refused(name):
    with pytest.raises(ProtocolError) as err:
        topics.parse(name)
    assert err.value.code == "bad_topic"


def test_a_message_must_name_the_device_of_its_topic():
    with pytest.raises(ProtocolError) as err:
        topics.check_sender(f"t/{DEV}/hb", {"t": "heartbeat", "dev": "CTOTHERDEV1"})
    assert err.value.code == "bad_topic"
    with pytest.raises(ProtocolError):
        topics.check_sender(f"t/{DEV}/hb", {"t": "debit_req", "dev": DEV})


@given(st.text(max_size=80))
def test_topic_parser_raises_only_bad_topic(name):
    try:
        topics.parse(name)
    except ProtocolError as err:
        assert err.code == "bad_topic"


def test_time_window_is_wider_in_the_past_than_in_the_future():
    now = 1_800_000_000
    assert seq.ts_in_window(now - seq.PAST_WINDOW_S, now)
    assert not seq.ts_in_window(now - seq.PAST_WINDOW_S - 1, now)
    assert seq.ts_in_window(now + seq.FUTURE_WINDOW_S, now)
    assert not seq.ts_in_window(now + seq.FUTURE_WINDOW_S + 1, now)
