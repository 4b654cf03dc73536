# Canonical bytes, the one form that MACs are computed over and that goes on the wire.
#
# MicroPython's json.dumps has no sort_keys and its dicts keep no order, so we write the JSON
# ourselves, the same way on both runtimes:
#   - objects: keys sorted by code point (keys are ASCII [a-z0-9_]), no spaces: {"a":1,"b":2}
#   - strings: '"' and '\' escaped with a backslash; U+0000-U+001F and U+007F as \u00xx
#     (lower-case hex); everything else as raw UTF-8
#   - integers in decimal, booleans true/false, None as null
#   - floats and bytes are refused: money is integer cents, binary travels as hex or base64.
# The result is valid JSON that any JSON parser reads back to the same value.

from protocol.errors import ProtocolError

MAX_DEPTH = 4
MAX_INT = (1 << 53) - 1  # what every JSON reader holds exactly
_KEY_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"
_HEX = "0123456789abcdef"


def _check_key(key):
    if not isinstance(key, str) or not key or len(key) > 32:
        raise ProtocolError("malformed", "object keys are short strings")
    for ch in key:
        if ch not in _KEY_CHARS:
            raise ProtocolError("malformed", "object key has a character outside [a-z0-9_]")


def _string(text, out):
    out.append('"')
    start = 0
    for i in range(len(text)):
        ch = text[i]
        code = ord(ch)
        if 0xD800 <= code <= 0xDFFF:
            raise ProtocolError("malformed", "surrogates have no canonical form")
        if ch == '"' or ch == "\\" or code < 0x20 or code == 0x7F:
            if start < i:
                out.append(text[start:i])
            if ch == '"' or ch == "\\":
                out.append("\\" + ch)
            else:
                out.append("\\u00" + _HEX[code >> 4] + _HEX[code & 15])
            start = i + 1
    if start < len(text):
        out.append(text[start:])
    out.append('"')


def _value(value, out, depth):
    kind = type(value)
    if value is None:
        out.append("null")
    elif kind is bool:
        out.append("true" if value else "false")
    elif kind is int:
        if value > MAX_INT or value < -MAX_INT:
            raise ProtocolError("out_of_range", "integer beyond 2**53")
        out.append(str(value))
    elif kind is str:
        _string(value, out)
    elif kind is dict:
        if depth >= MAX_DEPTH:
            raise ProtocolError("malformed", "nested too deeply")
        keys = list(value.keys())
        for key in keys:
            _check_key(key)
        keys.sort()
        out.append("{")
        first = True
        for key in keys:
            if not first:
                out.append(",")
            first = False
            _string(key, out)
            out.append(":")
            _value(value[key], out, depth + 1)
        out.append("}")
    elif kind is list or kind is tuple:
        if depth >= MAX_DEPTH:
            raise ProtocolError("malformed", "nested too deeply")
        out.append("[")
        for i in range(len(value)):
            if i:
                out.append(",")
            _value(value[i], out, depth + 1)
        out.append("]")
    elif kind is float:
        raise ProtocolError("bad_type", "floats are not allowed (use integer cents)")
    else:
        raise ProtocolError("bad_type", "value of a type JSON cannot carry")


def encode(value):
    """A value made of dict/list/str/int/bool/None -> canonical UTF-8 bytes."""
    if _dumps is not None and _plain(value, 0):
        return _dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")
    out = []
    _value(value, out, 0)
    return "".join(out).encode("utf-8")


# CPython (the server, the simulator): the C JSON encoder writes the same bytes as _value for
# values it is given only after _plain() has found nothing it would write differently (a
# control character or DEL in a string, a surrogate) and nothing _value refuses; anything
# else takes the path above, errors included. MicroPython's json.dumps has no sort_keys.
try:
    from json import dumps as _dumps
    from re import compile as _compile

    _dumps({"b": 1, "a": [None]}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    _ODD_TEXT = _compile("[\x00-\x1f\x7f\ud800-\udfff]").search
    _GOOD_KEY = _compile("[a-z0-9_]{1,32}").fullmatch
except (ImportError, TypeError, ValueError, AttributeError):
    _dumps = None


def _plain(value, depth):
    kind = type(value)
    if kind is str:
        return _ODD_TEXT(value) is None
    if kind is int:
        return -MAX_INT <= value <= MAX_INT
    if value is None or kind is bool:
        return True
    if depth >= MAX_DEPTH:
        return False
    if kind is dict:
        for key in value:
            if type(key) is not str or _GOOD_KEY(key) is None:
                return False
            if not _plain(value[key], depth + 1):
                return False
        return True
    if kind is list or kind is tuple:
        for item in value:
            if not _plain(item, depth + 1):
                return False
        return True
    return False


def encode_without(message, field):
    """Canonical bytes of `message` minus one field: what the MAC covers."""
    rest = {}
    for key in message:
        if key != field:
            rest[key] = message[key]
    return encode(rest)
