# Every message of the wire contract: its fields with types and bounds, its size limit, and
# how it is authenticated. Payloads are canonical JSON (protocol.canonical) carrying "t" (the
# message type) and "v" (the protocol version), so that a payload cannot pass for another type.

import json

from protocol import canonical
from protocol.errors import ProtocolError
from protocol.schema import (
    bool_field,
    enum_field,
    hex_field,
    int_field,
    list_field,
    obj_field,
    record_field,
    str_field,
    validate,
)

VERSION = 1
SUPPORTED_VERSIONS = (1,)
MAX_PAYLOAD = 8192  # no message is ever larger; checked before any parsing

MAX_AMOUNT = 99999999  # cents; the program's own maximum is lower and checked by the ledger
TS_MIN = 1577836800  # 2020-01-01: a clock before this has never been set
TS_MAX = 4102444800  # 2100-01-01
COUNTER_MAX = 0xFFFFFFFF

# How each message is authenticated (see docs/protocol.md, "Key hierarchy"):
DUKPT_REQUEST = "dukpt_request"  # AES-CMAC, MAC-generation key of the request's transaction
DUKPT_RESULT = "dukpt_result"  # AES-CMAC, MAC-verification key of the same transaction
COMMAND_KEY = "command_key"  # HMAC-SHA256 with the device's command key
NONE = "none"  # integrity from TLS + broker ACL; nothing here moves money or acts on a device

_ID_CHARS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TOKEN_CHARS = _ID_CHARS + "ILOU"
_CODE_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"
_REF_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_."

REQ = True  # required
OPT = False  # optional

_v = (int_field(0, 255), REQ)
_dev = (str_field(11, 11, _ID_CHARS), REQ)
_ts = (int_field(TS_MIN, TS_MAX), REQ)
_kid = (hex_field(16), REQ)  # Initial Key ID: 4-byte BDK ID + 4-byte derivation ID
_seq = (int_field(1, COUNTER_MAX), REQ)  # the AES-DUKPT transaction counter
_mac16 = (hex_field(32), REQ)  # AES-CMAC, 16 bytes
_mac32 = (hex_field(64), REQ)  # HMAC-SHA256, 32 bytes
_code = (str_field(1, 32, _CODE_CHARS), OPT)
_cat = (str_field(1, 16, _CODE_CHARS), OPT)
_amt = (int_field(0, MAX_AMOUNT), REQ)
_cmd_id = (str_field(1, 32, _REF_CHARS), REQ)
_sha = (hex_field(64), REQ)

RESULT_STATES = ("approved", "declined", "error")
COMMANDS = ("ping", "diagnostics", "restart", "get_logs", "set_config", "rekey")
UPDATE_STATES = ("queued", "downloading", "verifying", "installing", "rebooting",
                 "succeeded", "failed", "rolled_back", "rejected")

_RESULT = {
    "t": (str_field(1, 16), REQ), "v": _v, "dev": _dev, "seq": _seq, "ts": _ts,
    "st": (enum_field(RESULT_STATES), REQ), "code": _code, "amt": _amt,
    "bal": (int_field(0, MAX_AMOUNT), OPT),  # remaining balance of the pot, when the ledger says
    "auth": (str_field(1, 12, _REF_CHARS), OPT),  # authorisation code shown on the screen
    "op": (str_field(1, 40, _REF_CHARS), OPT),  # the ledger's operation id
    "mac": _mac16,
}

_CATEGORY = {
    "c": (str_field(1, 16, _CODE_CHARS), REQ),  # category code, e.g. "books"
    "l": (str_field(1, 24), REQ),  # label for the screen
    "cap": (int_field(0, MAX_AMOUNT), OPT),  # per-purchase cap in cents, if the program sets one
}

# type: (fields, max payload bytes, authentication)
MESSAGES = {
    "debit_req": ({
        "t": (str_field(1, 16), REQ), "v": _v, "dev": _dev, "kid": _kid, "seq": _seq, "ts": _ts,
        "tok": (str_field(1, 64, _TOKEN_CHARS), REQ), "amt": (int_field(1, MAX_AMOUNT), REQ),
        "cat": _cat, "mac": _mac16,
    }, 512, DUKPT_REQUEST),
    "debit_res": (_RESULT, 512, DUKPT_RESULT),
    "void_req": ({
        "t": (str_field(1, 16), REQ), "v": _v, "dev": _dev, "kid": _kid, "seq": _seq, "ts": _ts,
        "oseq": _seq,  # the counter of the sale being cancelled
        "mac": _mac16,
    }, 512, DUKPT_REQUEST),
    "void_res": (dict(_RESULT, oseq=_seq), 512, DUKPT_RESULT),
    "heartbeat": ({
        "t": (str_field(1, 16), REQ), "v": _v, "dev": _dev, "ts": _ts,
        "up": (int_field(0, COUNTER_MAX), REQ),  # seconds since boot
        "rssi": (int_field(-127, 0), OPT),  # dBm; absent on a wired or simulated link
        "heap": (int_field(0, 1 << 30), REQ),  # free heap, bytes
        "fw": (str_field(1, 24), REQ), "boots": (int_field(0, COUNTER_MAX), REQ),
        "rst": (str_field(1, 16, _CODE_CHARS), REQ),  # reset cause: power_on, watchdog, soft...
        "jn": (int_field(0, COUNTER_MAX), REQ),  # seq of the pending journal entry, 0 if none
        "scn": (enum_field(("ok", "fault", "absent")), REQ),
        "err": (str_field(1, 64), OPT), "drift": (int_field(-86400, 86400), OPT),
        "sales": (int_field(0, COUNTER_MAX), OPT),  # sales since boot
    }, 768, NONE),
    "status": ({
        "t": (str_field(1, 16), REQ), "v": _v, "dev": _dev, "ts": _ts,
        "st": (enum_field(("online", "offline")), REQ), "fw": (str_field(1, 24), OPT),
    }, 256, NONE),
    "command": ({
        "t": (str_field(1, 16), REQ), "v": _v, "dev": _dev, "ts": _ts, "id": _cmd_id,
        "name": (enum_field(COMMANDS), REQ), "args": (obj_field(64), OPT),
        "exp": _ts,  # the device refuses the command after this time
        "mac": _mac32,
    }, 2048, COMMAND_KEY),
    "command_res": ({
        "t": (str_field(1, 16), REQ), "v": _v, "dev": _dev, "ts": _ts, "id": _cmd_id,
        "ok": (bool_field(), REQ), "code": _code, "res": (obj_field(256), OPT), "mac": _mac32,
    }, 8192, COMMAND_KEY),
    "config": ({
        "t": (str_field(1, 16), REQ), "v": _v, "dev": _dev, "ts": _ts,
        "cv": (int_field(1, COUNTER_MAX), REQ),  # configuration version, increases on change
        "partner": (str_field(0, 40), REQ), "cats": (list_field(record_field(_CATEGORY), 8), REQ),
        "amax": (int_field(1, MAX_AMOUNT), REQ),  # program maximum per sale, cents
        "hb": (int_field(10, 3600), REQ),  # heartbeat interval, seconds
        "opts": (obj_field(32), OPT), "mac": _mac32,
    }, 4096, COMMAND_KEY),
    "update_offer": ({
        "t": (str_field(1, 16), REQ), "v": _v, "dev": _dev, "ts": _ts, "id": _cmd_id,
        "rel": (str_field(1, 24), REQ), "man": _sha, "size": (int_field(1, 1 << 24), REQ),
        "delay": (int_field(0, 86400), REQ),  # random start delay bound, seconds
        "exp": _ts, "mac": _mac32,
    }, 1024, COMMAND_KEY),
    "update_req": ({
        "t": (str_field(1, 16), REQ), "v": _v, "dev": _dev, "ts": _ts, "id": _cmd_id,
        "f": _sha, "off": (int_field(0, 1 << 24), REQ), "n": (int_field(1, 4096), REQ),
    }, 512, NONE),  # content is checked by SHA-256 against the signed manifest
    "update_chunk": ({
        "t": (str_field(1, 16), REQ), "v": _v, "dev": _dev, "id": _cmd_id, "f": _sha,
        "off": (int_field(0, 1 << 24), REQ), "data": (str_field(0, 5464), REQ),  # base64
        "eof": (bool_field(), REQ),
    }, 8192, NONE),
    "update_report": ({
        "t": (str_field(1, 16), REQ), "v": _v, "dev": _dev, "ts": _ts, "id": _cmd_id,
        "st": (enum_field(UPDATE_STATES), REQ), "rel": (str_field(1, 24), REQ),
        "reason": (str_field(1, 64), OPT), "pct": (int_field(0, 100), OPT), "mac": _mac32,
    }, 1024, COMMAND_KEY),
}


def auth_scheme(message_type):
    return MESSAGES[message_type][2]


def max_size(message_type):
    return MESSAGES[message_type][1]


def check(message, expected_type=None, sealed=True):
    """Validate a message dict against its schema; return its type.

    sealed=False accepts a message whose mac is not computed yet (while it is being built).
    """
    if type(message) is not dict:
        raise ProtocolError("bad_type", "a message is a JSON object")
    mtype = message.get("t")
    if type(mtype) is not str or mtype not in MESSAGES:
        raise ProtocolError("malformed", "unknown message type")
    if expected_type is not None and mtype != expected_type:
        raise ProtocolError("malformed", "expected " + expected_type)
    version = message.get("v")
    if type(version) is not int or version not in SUPPORTED_VERSIONS:
        raise ProtocolError("bad_version", "protocol version not supported")
    validate(MESSAGES[mtype][0], message, "", () if sealed else ("mac",))
    if mtype in ("debit_res", "void_res"):
        # A refusal always says why; an approval never carries a refusal code.
        if (message["st"] == "approved") == ("code" in message):
            raise ProtocolError("malformed", "code is required exactly when not approved")
    return mtype


def build(message_type, fields):
    """A new message of `message_type` from `fields` (without t, v and mac), validated."""
    message = {"t": message_type, "v": VERSION}
    for key in fields:
        message[key] = fields[key]
    check(message, message_type, sealed=False)
    return message


def encode(message):
    """Canonical bytes of a complete message, refused if over its size limit."""
    data = canonical.encode(message)
    if len(data) > max_size(message["t"]):
        raise ProtocolError("too_large", message["t"] + " over its size limit")
    return data


def parse(payload, expected_type=None):
    """Bytes from the network -> validated message dict. Raises ProtocolError only."""
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise ProtocolError("bad_type", "payload must be bytes")
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError("too_large", "payload over %d bytes" % MAX_PAYLOAD)
    if expected_type is not None and len(payload) > max_size(expected_type):
        raise ProtocolError("too_large", expected_type + " over its size limit")
    try:
        text = bytes(payload).decode("utf-8")
        message = json.loads(text)
    except Exception:  # any parser failure (bad UTF-8, bad JSON, recursion) is one error
        raise ProtocolError("malformed", "not a UTF-8 JSON document") from None
    mtype = check(message, expected_type)
    if len(payload) > max_size(mtype):
        raise ProtocolError("too_large", mtype + " over its size limit")
    return message
