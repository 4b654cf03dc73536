# Codes the counter scans or types, each with a check character so that a misread QR code or a
# typo is caught on the terminal before anything is sent.
#
# - beneficiary card: 12 digits, the last a Luhn check digit ("le code chiffré" partners type
#   on a keypad when the QR code does not scan), printed in groups of four;
# - exchange voucher or coupon: 9 characters of Crockford base32 (no I, L, O, U), the last a
#   Luhn mod 32 check character, e.g. "2DZHB6PQ6";
# - device id: "CT" + 8 base32 characters + check (check computed over all ten);
# - claim code: 8 base32 characters + check, printed "XXXX-XXXXX".
# Luhn mod N catches every single-character error and most swaps of neighbours.

from protocol.errors import ProtocolError

ALPHABET32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Crockford's decoding of look-alikes: what a person types or a scanner misreads.
_LOOKALIKE = {"O": "0", "I": "1", "L": "1"}
MAX_RAW = 128  # longest scanner line or typed input considered at all

CARD = "card"
VOUCHER = "voucher"
DEVICE = "device"

CARD_LEN = 12
VOUCHER_LEN = 9
DEVICE_LEN = 11
CLAIM_LEN = 9


def _luhn_check(values, base):
    # Generic Luhn mod N: double every second value from the right (the check goes right).
    total = 0
    factor = 2
    for i in range(len(values) - 1, -1, -1):
        addend = factor * values[i]
        total += addend // base + addend % base
        factor = 1 if factor == 2 else 2
    return (base - total % base) % base


def _values32(text):
    out = []
    for ch in text:
        idx = ALPHABET32.find(ch)
        if idx < 0:
            raise ProtocolError("code_unreadable", "character not allowed in code")
        out.append(idx)
    return out


def check_char32(payload):
    return ALPHABET32[_luhn_check(_values32(payload), 32)]


def check_digit10(digits):
    for ch in digits:
        if ch < "0" or ch > "9":
            raise ProtocolError("malformed", "card codes are digits only")
    return str(_luhn_check([ord(c) - 48 for c in digits], 10))


def make_voucher(payload8):
    return payload8 + check_char32(payload8)


def make_card(digits11):
    return digits11 + check_digit10(digits11)


def make_device_id(payload8):
    body = "CT" + payload8
    return body + check_char32(body)


def make_claim_code(payload8):
    return payload8 + check_char32(payload8)


def random_payload32(n, random_bytes):
    """n base32 characters from a bytes source (os.urandom or the board's RNG)."""
    raw = random_bytes(n)
    return "".join(ALPHABET32[b & 31] for b in raw)


def _clean(raw):
    # Keep what a scanner or a person could mean: drop separators, fold case and look-alikes.
    if not isinstance(raw, str):
        raise ProtocolError("bad_type", "code must be text")
    if len(raw) > MAX_RAW:
        raise ProtocolError("too_large", "code longer than %d characters" % MAX_RAW)
    text = raw.strip()
    # QR codes of some programs carry a URL whose last path segment is the code.
    if "/" in text:
        text = text.split("?")[0].split("#")[0].rstrip("/")
        text = text[text.rfind("/") + 1:]
    out = []
    for ch in text.upper():
        if ch in " -.\t\r\n":
            continue
        out.append(_LOOKALIKE.get(ch, ch))
    return "".join(out)


def _valid32(code):
    try:
        return check_char32(code[:-1]) == code[-1]
    except ProtocolError:
        return False


def parse_token(raw):
    """What the counter scanned or typed -> (kind, normalised code); ProtocolError if unreadable.

    The error code is "unknown_code" for a code of no known shape and "code_unreadable" for one
    whose check character does not match (the terminal asks to scan again).
    """
    code = _clean(raw)
    if len(code) == CARD_LEN and code.isdigit():
        if check_digit10(code[:-1]) != code[-1]:
            raise ProtocolError("code_unreadable", "card check digit does not match")
        return CARD, code
    if len(code) == VOUCHER_LEN:
        if not _valid32(code):
            raise ProtocolError("code_unreadable", "voucher check character does not match")
        return VOUCHER, code
    raise ProtocolError("unknown_code", "no known code has this shape")


def is_device_id(text):
    return (isinstance(text, str) and len(text) == DEVICE_LEN and text[:2] == "CT"
            and _valid32(text))


def parse_claim_code(raw):
    code = _clean(raw)
    if len(code) != CLAIM_LEN or not _valid32(code):
        raise ProtocolError("malformed", "claim code is 9 characters with a valid check")
    return code


def format_card(code):
    return code[0:4] + " " + code[4:8] + " " + code[8:12]


def format_claim_code(code):
    return code[:4] + "-" + code[4:]
