# Every message of the wire contract: its fields with types and bounds, its size limit, and
# how it is authenticated. Payloads are canonical JSON (protocol.canonical) carrying "t" (the
# message type) and "v" (the protocol version), so that a payload cannot pass for another type.

import json

from protocol import canonical
from protocol.errors import ProtocolError
from protocol.schema import check_kind, validate_spec

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
_TOKEN_CHARS = "0123456789ABCDEFGHJKMNPQRSTVWXYZILOU"
_CODE_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"
_REF_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_."

RESULT_STATES = ("approved", "declined", "error")
COMMANDS = ("ping", "diagnostics", "restart", "get_logs", "set_config", "rekey")
UPDATE_STATES = ("queued", "downloading", "verifying", "installing", "rebooting",
                 "succeeded", "failed", "rolled_back", "rejected")

# The wire contract, one string per message type: "<max payload bytes> <authentication>
# <fields>", fields in the spec language of protocol.schema ("?" optional; i int lo,hi; s text
# lo,hi[,alphabet]; h hex length; e enum; b bool; o free object; l list of records). Every
# message carries t (its type) and v (the protocol version); dev is a device id, kid the
# Initial Key ID (4-byte BDK ID + 4-byte derivation ID), seq the AES-DUKPT transaction counter,
# mac an AES-CMAC (32 hex) or an HMAC-SHA256 (64 hex). Money is integer cents.
SPECS = {
    "debit_req": "512 dukpt_request t:s1,16 v:i0,255 dev:s11,11,I kid:h16 seq:i1,4294967295 "
                 "ts:i1577836800,4102444800 tok:s1,64,T amt:i1,99999999 ?cat:s1,16,C mac:h32",
    # bal: what is left in the pot, when the ledger says; auth: the authorisation code shown
    # on the screen; op: the ledger's operation id; rq: the MAC of the request this result
    # answers, inside the result's own MAC, so a result made for one request (a forged one
    # with the same counter) cannot pass for the answer to another (auth.verify_result).
    "debit_res": "512 dukpt_result t:s1,16 v:i0,255 dev:s11,11,I seq:i1,4294967295 "
                 "ts:i1577836800,4102444800 st:eR ?code:s1,32,C amt:i0,99999999 "
                 "?bal:i0,99999999 ?auth:s1,12,R ?op:s1,40,R rq:h32 mac:h32",
    # oseq: the counter of the sale being cancelled.
    "void_req": "512 dukpt_request t:s1,16 v:i0,255 dev:s11,11,I kid:h16 seq:i1,4294967295 "
                "ts:i1577836800,4102444800 oseq:i1,4294967295 mac:h32",
    "void_res": "512 dukpt_result t:s1,16 v:i0,255 dev:s11,11,I seq:i1,4294967295 "
                "ts:i1577836800,4102444800 st:eR ?code:s1,32,C amt:i0,99999999 "
                "?bal:i0,99999999 ?auth:s1,12,R ?op:s1,40,R rq:h32 mac:h32 oseq:i1,4294967295",
    # A voucher or coupon code's value, asked before the amount is typed (nothing moves, no
    # DUKPT counter is spent). id: a fresh nonce of the terminal, echoed in the answer with
    # rq (the request's MAC) so that an old answer cannot pass for another scan's.
    "code_req": "256 command_key t:s1,16 v:i0,255 dev:s11,11,I ts:i1577836800,4102444800 "
                "id:s1,32,R tok:s1,64,T mac:h64",
    # code: why the code cannot be used now by this partner (a decline code: used, out of
    # order, not in agreement, unknown...), absent when it can; amt: its value; cat: its
    # category.
    "code_res": "512 command_key t:s1,16 v:i0,255 dev:s11,11,I ts:i1577836800,4102444800 "
                "id:s1,32,R tok:s1,64,T ?code:s1,32,C amt:i0,99999999 ?cat:s1,16,C "
                "rq:h64 mac:h64",
    # up: seconds since boot; rssi: dBm, absent on a wired or simulated link; heap: free heap
    # bytes; rst: reset cause (power_on, watchdog, soft...); jn: seq of the pending journal
    # entry, 0 if none; scn: scanner state; sales: since boot.
    "heartbeat": "768 none t:s1,16 v:i0,255 dev:s11,11,I ts:i1577836800,4102444800 "
                 "up:i0,4294967295 ?rssi:i-127,0 heap:i0,1073741824 fw:s1,24 "
                 "boots:i0,4294967295 rst:s1,16,C jn:i0,4294967295 scn:eS ?err:s1,64 "
                 "?drift:i-86400,86400 ?sales:i0,4294967295",
    "status": "256 none t:s1,16 v:i0,255 dev:s11,11,I ts:i1577836800,4102444800 st:eO "
              "?fw:s1,24",
    # exp: the device refuses the command after this time.
    "command": "2048 command_key t:s1,16 v:i0,255 dev:s11,11,I ts:i1577836800,4102444800 "
               "id:s1,32,R name:eC ?args:o64 exp:i1577836800,4102444800 mac:h64",
    "command_res": "8192 command_key t:s1,16 v:i0,255 dev:s11,11,I ts:i1577836800,4102444800 "
                   "id:s1,32,R ok:b ?code:s1,32,C ?res:o256 mac:h64",
    # cv: configuration version, increases on change; cats: the categories (records K);
    # amax: program maximum per sale, cents; hb: heartbeat interval, seconds.
    "config": "4096 command_key t:s1,16 v:i0,255 dev:s11,11,I ts:i1577836800,4102444800 "
              "cv:i1,4294967295 partner:s0,40 cats:l8,K amax:i1,99999999 hb:i10,3600 "
              "?opts:o32 mac:h64",
    # delay: random start delay bound, seconds. sig: the release signature (ECDSA P-256,
    # r || s, over the manifest bytes), checked by the device against its release keys;
    # dg: a rollback statement's signature (protocol/rollback.py): this offer may install an
    # older release than the one running, because the release key says so.
    "update_offer": "1024 command_key t:s1,16 v:i0,255 dev:s11,11,I ts:i1577836800,4102444800 "
                    "id:s1,32,R rel:s1,24 man:h64 size:i1,16777216 delay:i0,86400 "
                    "exp:i1577836800,4102444800 mac:h64 ?sig:h128 ?dg:h128",
    # Content is checked by SHA-256 against the signed manifest.
    "update_req": "512 none t:s1,16 v:i0,255 dev:s11,11,I ts:i1577836800,4102444800 "
                  "id:s1,32,R f:h64 off:i0,16777216 n:i1,4096",
    "update_chunk": "8192 none t:s1,16 v:i0,255 dev:s11,11,I id:s1,32,R f:h64 "
                    "off:i0,16777216 data:s0,5464 eof:b",  # data: base64
    "update_report": "1024 command_key t:s1,16 v:i0,255 dev:s11,11,I "
                     "ts:i1577836800,4102444800 id:s1,32,R st:eU rel:s1,24 ?reason:s1,64 "
                     "?pct:i0,100 mac:h64",
}

# What the one-letter names of the specs stand for: alphabets, enums, records.
_TABLES = (
    {"I": _ID_CHARS, "T": _TOKEN_CHARS, "C": _CODE_CHARS, "R": _REF_CHARS},
    {"R": RESULT_STATES, "C": COMMANDS, "U": UPDATE_STATES, "S": ("ok", "fault", "absent"),
     "O": ("online", "offline")},
    # One category of a configuration: code (e.g. "books"), label for the screen, and the
    # per-purchase cap in cents if the program sets one.
    {"K": "c:s1,16,C l:s1,24 ?cap:i0,99999999"},
)


def __getattr__(name):
    # MESSAGES, the server's form of the table: type -> (fields, max payload bytes,
    # authentication), fields: name -> (checker(name, value), required). Built on first use:
    # a terminal never asks for it, and its closures would take kilobytes of its heap.
    if name != "MESSAGES":
        raise AttributeError(name)
    table = {}
    for mtype in SPECS:
        size, scheme, fields = SPECS[mtype].split(None, 2)
        table[mtype] = ({item.strip("?").split(":")[0]: (_checker(item), item[0] != "?")
                         for item in fields.split()}, int(size), scheme)
    globals()["MESSAGES"] = table
    return table


def _checker(item):
    kind = item[item.find(":") + 1:]
    return lambda name, value: check_kind(name, value, kind, _TABLES)


def auth_scheme(message_type):
    spec = SPECS[message_type]
    start = spec.find(" ") + 1
    return spec[start:spec.find(" ", start)]


def max_size(message_type):
    spec = SPECS[message_type]
    return int(spec[:spec.find(" ")])


def check(message, expected_type=None, sealed=True):
    """Validate a message dict against its schema; return its type.

    sealed=False accepts a message whose mac is not computed yet (while it is being built).
    """
    if type(message) is not dict:
        raise ProtocolError("bad_type", "a message is a JSON object")
    mtype = message.get("t")
    if type(mtype) is not str or mtype not in SPECS:
        raise ProtocolError("malformed", "unknown message type")
    if expected_type is not None and mtype != expected_type:
        raise ProtocolError("malformed", "expected " + expected_type)
    version = message.get("v")
    if type(version) is not int or version not in SUPPORTED_VERSIONS:
        raise ProtocolError("bad_version", "protocol version not supported")
    # skip=2: the size and the authentication that head the spec.
    validate_spec(SPECS[mtype], message, _TABLES, "", () if sealed else ("mac",), 2)
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
