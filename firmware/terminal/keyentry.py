# What the counter staff types on the 4x4 keypad: an amount in cents and a card or voucher code.
# Pure: keys and the time (now_ms, from the events) come in, the entered value goes out.
# Times are ticks: on a board they wrap, so elapsed time is ticks_diff(now, then), handed in.

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

MULTITAP_MS = const(1200)  # a letter is committed this long after its last tap
AMOUNT_DIGITS = const(8)  # 999999,99 EUR: the protocol's MAX_AMOUNT has 8 digits
CARD_LEN = const(12)
VOUCHER_LEN = const(9)

DIGITS = "0123456789"


def minus(a, b):
    """Elapsed time on a clock that never wraps (the tests'): the default ticks_diff."""
    return a - b

# Multi-tap letters, phone layout, Crockford base32 only (no I, L, O, U: those never appear in
# a voucher code, so offering them would only invite typos). Letters first, then the digit.
MULTITAP = {
    "0": "0", "1": "1", "2": "ABC2", "3": "DEF3", "4": "GH4", "5": "JK5",
    "6": "MN6", "7": "PQRS7", "8": "TV8", "9": "WXYZ9",
}


class AmountEntry:
    """Amount in cents, digits shifting in from the right as on a card terminal.

    "1","2","3","4" -> 1234 (12,34 EUR); "*" removes the last digit; "C" clears. A digit that
    would go over `max_cents` (the program maximum) is refused: key() returns False.
    """

    def __init__(self, max_cents=99999999):
        self.max_cents = max_cents
        self.cents = 0

    def key(self, k):
        if k == "*":
            self.cents //= 10
            return True
        if k == "C":
            self.cents = 0
            return True
        if len(k) != 1 or k not in DIGITS:
            return False
        value = self.cents * 10 + (ord(k) - 48)
        if value == 0:
            return True  # a leading zero changes nothing but is not a mistake
        if len(str(value)) > AMOUNT_DIGITS or value > self.max_cents:
            return False
        self.cents = value
        return True


class CodeEntry:
    """A code typed when the QR code does not scan.

    mode "card": digits go straight in (the 12-digit "code chiffre").
    mode "voucher": multi-tap; the same key again within MULTITAP_MS cycles through its letters,
    another key or the time-out commits the letter. "*" removes the pending letter or the last
    character; "C" clears.
    """

    def __init__(self, mode="card", ticks_diff=minus):
        self.mode, self.diff = mode, ticks_diff
        self.limit = CARD_LEN if mode == "card" else VOUCHER_LEN
        self.text = ""
        self.pending_key = None  # multi-tap key being cycled
        self.pending_index = 0
        self.pending_at = 0

    def pending_char(self):
        if self.pending_key is None:
            return ""
        letters = MULTITAP[self.pending_key]
        return letters[self.pending_index % len(letters)]

    def value(self):
        """Everything typed, the pending letter included."""
        return self.text + self.pending_char()

    def commit(self):
        char = self.pending_char()
        self.pending_key = None
        self.pending_index = 0
        if char and len(self.text) < self.limit:
            self.text += char

    def tick(self, now_ms):
        """Commit a letter whose time-out has passed; True when the text changed."""
        if self.pending_key is not None and self.diff(now_ms, self.pending_at) >= MULTITAP_MS:
            self.commit()
            return True
        return False

    def key(self, k, now_ms):
        """One key; False when refused (unknown key, code already full)."""
        if k == "*":
            if self.pending_key is not None:
                self.pending_key = None
                self.pending_index = 0
            else:
                self.text = self.text[:-1]
            return True
        if k == "C":
            self.text = ""
            self.pending_key = None
            self.pending_index = 0
            return True
        if len(k) != 1 or k not in DIGITS:
            return False
        if self.mode == "card" or len(MULTITAP[k]) == 1:
            # One character on this key: nothing to cycle, it goes straight in.
            self.commit()
            if len(self.text) >= self.limit:
                return False
            self.text += k
            return True
        if k == self.pending_key and self.diff(now_ms, self.pending_at) < MULTITAP_MS:
            self.pending_index += 1
            self.pending_at = now_ms
            return True
        self.commit()
        if len(self.text) >= self.limit:
            return False
        self.pending_key = k
        self.pending_index = 0
        self.pending_at = now_ms
        return True

    def display(self):
        """The code as the staff reads it: cards in groups of four."""
        text = self.value()
        if self.mode != "card":
            return text
        out = ""
        for i in range(0, len(text), 4):
            out += (" " if out else "") + text[i:i + 4]
        return out
