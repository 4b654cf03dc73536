# The MQTT topic tree: one subtree per device, t/<device_id>/<leaf>, so that a broker ACL with
# the pattern t/%u/# confines each device to its own topics.
#
# Direction "up" is device -> server, "down" is server -> device.

from protocol.errors import ProtocolError

ROOT = "t"
SHARE_GROUP = "fleet"  # $share/fleet/... lets several server instances split the load

# leaf: (message type, direction, QoS, retained)
LEAVES = {
    "debit/req": ("debit_req", "up", 1, False),
    "debit/res": ("debit_res", "down", 1, False),
    "void/req": ("void_req", "up", 1, False),
    "void/res": ("void_res", "down", 1, False),
    "code/req": ("code_req", "up", 1, False),  # a voucher's value, before the amount
    "code/res": ("code_res", "down", 1, False),
    "hb": ("heartbeat", "up", 0, False),
    "status": ("status", "up", 1, True),  # also the device's last will ("offline")
    "cmd": ("command", "down", 1, False),
    "cmd/res": ("command_res", "up", 1, False),
    "config": ("config", "down", 1, True),
    "upd/offer": ("update_offer", "down", 1, False),
    "upd/req": ("update_req", "up", 1, False),
    "upd/chunk": ("update_chunk", "down", 1, False),
    "upd/report": ("update_report", "up", 1, False),
}

_LEAF_OF_TYPE = {}
for _leaf in LEAVES:
    _LEAF_OF_TYPE[LEAVES[_leaf][0]] = _leaf

MAX_TOPIC = 64
_ID_CHARS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _check_device_id(device_id):
    if type(device_id) is not str or not (1 <= len(device_id) <= 24):
        raise ProtocolError("bad_topic", "device id has a bad length")
    for ch in device_id:
        if ch not in _ID_CHARS:
            raise ProtocolError("bad_topic", "device id has a character outside its alphabet")


def topic(device_id, message_type):
    """The topic a message of `message_type` for `device_id` travels on."""
    _check_device_id(device_id)
    leaf = _LEAF_OF_TYPE.get(message_type)
    if leaf is None:
        raise ProtocolError("malformed", "no topic for this message type")
    return ROOT + "/" + device_id + "/" + leaf


def parse(topic_name):
    """A received topic -> (device_id, message type). ProtocolError("bad_topic") otherwise."""
    if type(topic_name) is not str or len(topic_name) > MAX_TOPIC:
        raise ProtocolError("bad_topic", "topic too long or not text")
    if not topic_name.startswith(ROOT + "/"):
        raise ProtocolError("bad_topic", "topic outside the device tree")
    rest = topic_name[len(ROOT) + 1:]
    slash = rest.find("/")
    if slash <= 0:
        raise ProtocolError("bad_topic", "topic has no leaf")
    device_id = rest[:slash]
    _check_device_id(device_id)
    entry = LEAVES.get(rest[slash + 1:])
    if entry is None:
        raise ProtocolError("bad_topic", "unknown topic leaf")
    return device_id, entry[0]


def qos(message_type):
    return LEAVES[_LEAF_OF_TYPE[message_type]][2]


def retained(message_type):
    return LEAVES[_LEAF_OF_TYPE[message_type]][3]


def direction(message_type):
    return LEAVES[_LEAF_OF_TYPE[message_type]][1]


def server_filters(shared=False):
    """Subscriptions of the fleet server: every device's upward topics. Shared between server
    processes, requests and reports go to one of them; heartbeats and status go to all, so
    that each keeps the whole live view."""
    out = []
    for leaf in LEAVES:
        if LEAVES[leaf][1] == "up":
            flt = ROOT + "/+/" + leaf
            share = shared and leaf not in ("hb", "status")
            out.append(("$share/" + SHARE_GROUP + "/" + flt) if share else flt)
    return out


def device_filters(device_id):
    """Subscriptions of a device: its own downward topics."""
    out = []
    for leaf in LEAVES:
        if LEAVES[leaf][1] == "down":
            out.append(topic(device_id, LEAVES[leaf][0]))
    return out


def check_sender(topic_name, message):
    """The device id in the topic must be the one inside the message (ACLs bind the topic)."""
    device_id, mtype = parse(topic_name)
    if message.get("dev") != device_id or message.get("t") != mtype:
        raise ProtocolError("bad_topic", "topic does not match the message")
    return device_id, mtype
