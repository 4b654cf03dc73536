"""The rules behind both brokers' access control (broker_security.py): one device's topics only,
as protocol/topics.py lays them out; Mosquitto's password hash format, checked against the real
mosquitto_passwd."""

import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from secure_broker import new_device_id

from fleet_server.adapters.broker_security import (
    device_allowed,
    hash_password,
    render_acl,
    server_allowed,
    verify_password,
)
from protocol import topics

DEVICE = new_device_id()


def test_each_leaf_in_its_direction_only():
    for leaf, (mtype, direction, _, _) in topics.LEAVES.items():
        topic = topics.topic(DEVICE, mtype)
        assert device_allowed(DEVICE, topic, "publish") == (direction == "up"), leaf
        assert device_allowed(DEVICE, topic, "subscribe") == (direction == "down"), leaf
        assert device_allowed(DEVICE, topic, "receive") == (direction == "down"), leaf
        assert not device_allowed(new_device_id(), topic, "publish")
        assert f"pattern {'write' if direction == 'up' else 'read'} t/%u/{leaf}" in render_acl()
    for topic in ("t/+/cmd", "t/#", "#", f"t/{DEVICE}/#", f"t/{DEVICE}/+"):
        assert not device_allowed(DEVICE, topic, "subscribe")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.sampled_from(["publish", "subscribe", "receive", "x"]))
def test_any_topic_is_a_yes_or_no_never_a_crash(topic, action):
    if device_allowed(DEVICE, topic, action):
        device_id, _ = topics.parse(topic)
        assert device_id == DEVICE
    assert server_allowed(topic) in (True, False)


def test_a_revoked_device_is_denied_before_the_patterns():
    acl = render_acl(revoked=[DEVICE])
    assert acl.index(f"user {DEVICE}\ntopic deny t/#") < acl.index("pattern")
    with pytest.raises(ValueError):
        render_acl(revoked=["not a device"])


def test_password_hashes_match_mosquitto_passwd(tmp_path):
    hashed = hash_password("a-long-server-password")
    assert hashed.startswith("$7$101$") and verify_password("a-long-server-password", hashed)
    assert not verify_password("another-password", hashed)
    assert not verify_password("x", "garbage")
    with pytest.raises(ValueError, match="12 characters"):
        hash_password("short")
    binary = shutil.which("mosquitto_passwd")
    if binary:
        path = tmp_path / "passwd"
        subprocess.run([binary, "-c", "-b", str(path), "fleet-server", "from-mosquitto-pw"],
                       check=True, capture_output=True)
        theirs = path.read_text().strip().split(":", 1)[1]
        assert verify_password("from-mosquitto-pw", theirs)
