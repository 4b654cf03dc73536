# Field checks for message schemas.
#
# A schema is written compactly as a string (protocol.messages.SPECS) and checked by
# validate_spec() with the check_* functions below: a terminal keeps a dozen strings instead of
# a hundred closures, dicts and tuples on its heap (and the strings run from flash when the
# code sits in a ROMFS partition). The server's table (messages.MESSAGES) wraps check_kind()
# in one closure per field.
#
# Field spec: [?]name:KIND, "?" for an optional field. KIND:
#   i<lo>,<hi>        integer in lo..hi           b             true or false
#   s<lo>,<hi>[,<A>]  text, lo..hi characters,    h<n>          n lower-case hex characters
#                     optionally from alphabet A  e<E>          one of the values of enum E
#   o<n>              free-form object, n entries l<n>,<R>      list of at most n records R
# Alphabets, enums and records are one-letter names in the tables handed to validate_spec.

from protocol.errors import ProtocolError

_HEX = "0123456789abcdef"
_PRINTABLE_MIN = 0x20


def _type_error(name, expected):
    raise ProtocolError("bad_type", name + " must be " + expected)


def check_int(name, value, lo, hi):
    if type(value) is not int:
        _type_error(name, "an integer")
    if value < lo or value > hi:
        raise ProtocolError("out_of_range", "%s must be within %d..%d" % (name, lo, hi))


def check_bool(name, value):
    if type(value) is not bool:
        _type_error(name, "true or false")


def check_str(name, value, lo, hi, charset=None):
    """Text of lo..hi characters; no control characters; optionally only from `charset`."""
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


def check_hex(name, value, length):
    if type(value) is not str:
        _type_error(name, "a hex string")
    if len(value) != length:
        raise ProtocolError("out_of_range", "%s must be %d hex characters" % (name, length))
    for ch in value:
        if ch not in _HEX:
            raise ProtocolError("malformed", name + " must be lower-case hex")


def check_enum(name, value, values):
    if type(value) is not str:
        _type_error(name, "a string")
    if value not in values:
        raise ProtocolError("out_of_range", name + " is not one of " + ",".join(values))


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


def check_obj(name, value, max_entries):
    if type(value) is not dict:
        _type_error(name, "an object")
    _check_free(name, value, 0, [max_entries])


def check_list(name, value, max_items):
    if type(value) is not list:
        _type_error(name, "a list")
    if len(value) > max_items:
        raise ProtocolError("too_large", "%s has more than %d items" % (name, max_items))


def check_record(name, value):
    if type(value) is not dict:
        _type_error(name, "an object")


# ---- compact specs (the terminal's form) --------------------------------------------------------

def _field_name(item):
    return item[1:item.find(":")] if item[0] == "?" else item[:item.find(":")]


def check_kind(name, value, kind, tables):
    """Check one value against a KIND of the spec language; tables = (alphabets, enums, records)."""
    tag, args = kind[0], kind[1:].split(",") if len(kind) > 1 else ()
    if tag == "i":
        check_int(name, value, int(args[0]), int(args[1]))
    elif tag == "s":
        check_str(name, value, int(args[0]), int(args[1]),
                  tables[0][args[2]] if len(args) > 2 else None)
    elif tag == "h":
        check_hex(name, value, int(args[0]))
    elif tag == "e":
        check_enum(name, value, tables[1][args[0]])
    elif tag == "b":
        check_bool(name, value)
    elif tag == "o":
        check_obj(name, value, int(args[0]))
    elif tag == "l":
        check_list(name, value, int(args[0]))
        for item in value:
            check_record(name, item)
            validate_spec(tables[2][args[1]], item, tables, name + ".")
    else:
        raise ValueError("bad schema kind " + kind)


def validate_spec(spec, message, tables, prefix="", optional=(), skip=0):
    """Check a message (dict) against a compact spec: a string of space-separated fields (after
    `skip` leading words). The checks and their order are those of validate(): unknown keys
    first, then each field."""
    items = spec.split()
    if skip:
        items = items[skip:]
    names = [_field_name(item) for item in items]
    for key in message:
        if key not in names:
            raise ProtocolError("unknown_field", prefix + str(key)[:32])
    for i in range(len(items)):
        key, item = names[i], items[i]
        if key in message:
            check_kind(prefix + key, message[key], item[item.find(":") + 1:], tables)
        elif item[0] != "?" and key not in optional:
            raise ProtocolError("missing_field", prefix + key)
