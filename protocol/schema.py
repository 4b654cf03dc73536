# Field checkers for message schemas. A schema is a dict: field name -> (checker, required).
# Each checker takes a value and raises ProtocolError with a specific code when it is wrong.

from protocol.errors import ProtocolError

_HEX = "0123456789abcdef"
_PRINTABLE_MIN = 0x20


def _type_error(name, expected):
    raise ProtocolError("bad_type", name + " must be " + expected)


def int_field(lo, hi):
    def check(name, value):
        if type(value) is not int:
            _type_error(name, "an integer")
        if value < lo or value > hi:
            raise ProtocolError("out_of_range", "%s must be within %d..%d" % (name, lo, hi))
    return check


def bool_field():
    def check(name, value):
        if type(value) is not bool:
            _type_error(name, "true or false")
    return check


def str_field(lo, hi, charset=None):
    """Text of lo..hi characters; no control characters; optionally only from `charset`."""
    def check(name, value):
        if type(value) is not str:
            _type_error(name, "a string")
        if len(value) < lo or len(value) > hi:
            raise ProtocolError("out_of_range", "%s length must be within %d..%d" % (name, lo, hi))
        for ch in value:
            code = ord(ch)
            if code < _PRINTABLE_MIN or code == 0x7F:
                raise ProtocolError("malformed", name + " has a control character")
            if 0xD800 <= code <= 0xDFFF:
                raise ProtocolError("malformed", name + " has a lone surrogate")
            if charset is not None and ch not in charset:
                raise ProtocolError("malformed", name + " has a character outside its alphabet")
    return check


def hex_field(length):
    def check(name, value):
        if type(value) is not str:
            _type_error(name, "a hex string")
        if len(value) != length:
            raise ProtocolError("out_of_range", "%s must be %d hex characters" % (name, length))
        for ch in value:
            if ch not in _HEX:
                raise ProtocolError("malformed", name + " must be lower-case hex")
    return check


def enum_field(values):
    def check(name, value):
        if type(value) is not str:
            _type_error(name, "a string")
        if value not in values:
            raise ProtocolError("out_of_range", name + " is not one of " + ",".join(values))
    return check


def _check_free(name, value, depth, budget):
    # Free-form data (command arguments, diagnostics results): bounded in depth and size.
    budget[0] -= 1
    if budget[0] < 0:
        raise ProtocolError("too_large", name + " has too many entries")
    kind = type(value)
    if value is None or kind is bool:
        return
    if kind is int:
        if value > (1 << 53) - 1 or value < -((1 << 53) - 1):
            raise ProtocolError("out_of_range", name + " has an integer beyond 2**53")
        return
    if kind is str:
        if len(value) > 4096:
            raise ProtocolError("too_large", name + " has a string over 4096 characters")
        for ch in value:
            # Runtimes disagree on surrogates (CPython pairs them, MicroPython does not), so the
            # canonical bytes would differ: refuse them.
            if 0xD800 <= ord(ch) <= 0xDFFF:
                raise ProtocolError("malformed", name + " has a surrogate")
        return
    if depth >= 3:
        raise ProtocolError("malformed", name + " is nested too deeply")
    if kind is dict:
        for key in value:
            if type(key) is not str or len(key) > 32:
                raise ProtocolError("malformed", name + " has a bad key")
            _check_free(name, value[key], depth + 1, budget)
        return
    if kind is list:
        for item in value:
            _check_free(name, item, depth + 1, budget)
        return
    if kind is float:
        _type_error(name, "free of floats (use integers)")
    _type_error(name, "made of objects, lists, strings, integers and booleans")


def obj_field(max_entries):
    def check(name, value):
        if type(value) is not dict:
            _type_error(name, "an object")
        _check_free(name, value, 0, [max_entries])
    return check


def list_field(item_check, max_items):
    def check(name, value):
        if type(value) is not list:
            _type_error(name, "a list")
        if len(value) > max_items:
            raise ProtocolError("too_large", "%s has more than %d items" % (name, max_items))
        for item in value:
            item_check(name, item)
    return check


def record_field(fields):
    """A nested object with its own fixed schema (e.g. one category of a configuration)."""
    def check(name, value):
        if type(value) is not dict:
            _type_error(name, "an object")
        validate(fields, value, name + ".")
    return check


def validate(fields, message, prefix="", optional=()):
    """Check every field; `optional` names required fields that may be absent (an unsealed mac)."""
    for key in message:
        if key not in fields:
            raise ProtocolError("unknown_field", prefix + str(key)[:32])
    for key in fields:
        checker, required = fields[key]
        if key in message:
            checker(prefix + key, message[key])
        elif required and key not in optional:
            raise ProtocolError("missing_field", prefix + key)
