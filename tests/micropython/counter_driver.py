# Drives the counter application (firmware/terminal/app.py) the way the runtime does, for the
# portable test modules tests/micropython/test_counter_app_*.py: a CounterApp with the runtime's
# clock, a partner's configuration, and the ledger's answers as the runtime hands them over.
# Not a test module itself (runner.py and pytest only run test_*.py); MicroPython-safe code only.

from terminal.app import CounterApp

from protocol.tokens import make_card, make_voucher

CARD = make_card("12345678901")
VOUCHER = make_voucher("2DZHB6PQ")
BOOKS = {"c": "books", "l": "Livres", "cap": 600}
CULTURE = {"c": "culture", "l": "Spectacles & cinéma"}
CONFIG = {"partner": "Librairie des Écoles", "cats": [BOOKS, CULTURE], "amax": 15000, "hb": 60}


class Counter:
    """A CounterApp plus the runtime's clock; remembers every action it returned."""

    def __init__(self, config=CONFIG, online=True):
        self.now = 1000
        self.app = CounterApp(config, self.now)
        self.actions = []
        self.send("tick", self.now)  # the runtime's first event shows the first screen
        if online:
            self.send("net", True)

    def send(self, kind, arg):
        out = self.app.handle((kind, arg))
        self.actions += out
        return out

    def keys(self, keys):
        out = []
        for k in keys:
            out += self.send("key", k)
        return out

    def wait(self, ms):
        self.now += ms
        return self.send("tick", self.now)

    def text(self):
        return "\n".join(self.app.screen)

    def money(self):
        return [a for a in self.actions if a[0] in ("debit", "void")]

    def beeps(self, out):
        return [a[1] for a in out if a[0] == "beep"]

    def sell(self, token=CARD, keys="1" "1234" "A", seq=7):
        """Scan, category 1, 12,34 EUR, confirm; the runtime sends it with `seq`."""
        self.send("scan", token)
        self.keys(keys)
        out = self.keys("A")
        self.send("sent", seq)
        return out


def approved(seq, amt=1234, bal=None, auth="A1B2C3", t="debit_res"):
    msg = {"t": t, "v": 1, "seq": seq, "st": "approved", "amt": amt, "auth": auth}
    if bal is not None:
        msg["bal"] = bal
    return msg


def refused(seq, code, st="declined", amt=1234, t="debit_res"):
    return {"t": t, "v": 1, "seq": seq, "st": st, "code": code, "amt": amt}
