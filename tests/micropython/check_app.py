# The counter application (firmware/terminal/app.py) on whatever Python runs it, the MicroPython
# binary first: scripted counter flows with the expectations of
# tests/unit/firmware/test_counter_app.py, random event sequences checked for the invariants,
# and the memory the application takes.
#   check_app.py <repo> [rounds]
# Prints "PASS name" / "FAIL name detail", "INFO ..." lines and "SUMMARY <passed> <failed>".
# Only MicroPython-safe syntax and modules here.

import sys

ROOT = sys.argv[1]
sys.path.insert(0, ROOT + "/firmware")
sys.path.insert(0, ROOT)

import gc
import random

ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 300
MICRO = sys.implementation.name == "micropython"
RESULTS = [0, 0]


def free():
    gc.collect()
    return gc.mem_free() if hasattr(gc, "mem_free") else 0


FREE_BEFORE_IMPORT = free()

from terminal.app import CounterApp

from protocol.errors import CODES
from protocol.tokens import make_card, make_voucher

FREE_AFTER_IMPORT = free()

CARD = make_card("12345678901")
VOUCHER = make_voucher("2DZHB6PQ")
CONFIG = {"partner": "Librairie des Écoles", "amax": 15000, "hb": 60,
          "cats": [{"c": "books", "l": "Livres", "cap": 600}, {"c": "culture", "l": "Culture"}]}


def report(name, ok, detail=""):
    RESULTS[0 if ok else 1] += 1
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else " " + str(detail)))


def fits(lines):
    if not isinstance(lines, list) or len(lines) > 8:
        return False
    for line in lines:
        if not isinstance(line, str) or len(line) > 16:
            return False
        for ch in line:
            if ord(ch) > 127:
                return False
    return True


class Counter:
    def __init__(self, config=CONFIG, online=True):
        self.now = 1000
        self.app = CounterApp(config, self.now)
        self.actions = []
        self.send("tick", self.now)
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

    def sell(self, seq):
        self.send("scan", CARD)
        out = self.keys("21234AA")  # culture: no per-purchase cap
        self.send("sent", seq)
        return out


def approved(seq, t="debit_res"):
    return {"t": t, "v": 1, "seq": seq, "st": "approved", "amt": 1234, "bal": 2766,
            "auth": "A1B2C3"}


def refused(seq, code, st="declined", amt=1234):
    return {"t": "debit_res", "v": 1, "seq": seq, "st": st, "code": code, "amt": amt}


def flow_sale_approved():
    c = Counter()
    out = c.sell(7)
    ok = ("debit", CARD, 1234, "culture") in out
    out = c.send("result", approved(7))
    ok = ok and ("beep", "happy") in out and c.app.screen[0] == "VENTE ACCEPTEE"
    ok = ok and "27,66 EUR" in c.text() and "A1B2C3" in c.text() and c.app.last_sale_seq == 7
    return ok, c.text()


def flow_declined():
    c = Counter()
    c.sell(7)
    out = c.send("result", refused(7, "insufficient_balance"))
    return ("beep", "sad") in out and "Solde" in c.text() and "insuffisant" in c.text(), c.text()


def flow_misread():
    c = Counter()
    c.send("scan", CARD[:-1] + str((int(CARD[-1]) + 1) % 10))
    return "rescannez" in c.app.screen and not c.money(), c.text()


def flow_offline():
    c = Counter(online=False)
    c.send("scan", CARD)
    ok = "vente impossible" in c.app.screen
    c.keys("B4")
    return ok and "vente impossible" in c.app.screen and not c.money(), c.text()


def flow_retransmit():
    c = Counter()
    c.sell(42)
    ok = c.wait(4000) == [] and ("retransmit", 42) in c.wait(1000)
    for _ in range(5):
        c.wait(5000)
    ok = ok and c.app.state == "no_answer" and c.app.pending_seq == 42
    c.send("net", False)
    ok = ok and ("retransmit", 42) in c.send("net", True)
    c.send("result", approved(42))
    ok = ok and c.app.screen[0] == "VENTE ACCEPTEE" and len(c.money()) == 1
    return ok, c.text()


def flow_service_unavailable():
    c = Counter()
    c.sell(9)
    c.send("result", refused(9, "service_unavailable", "error"))
    ok = c.app.state == "waiting" and ("retransmit", 9) in c.wait(5000)
    return ok, c.text()


def flow_void():
    c = Counter()
    c.sell(7)
    c.send("result", approved(7))
    c.keys("D3")
    ok = c.app.screen[0] == "ANNULER ?" and len(c.money()) == 1
    ok = ok and ("void", 7) in c.keys("A")
    c.send("sent", 8)
    c.send("result", approved(8, "void_res"))
    return ok and c.app.screen[0] == "VENTE ANNULEE" and c.app.last_sale_seq is None, c.text()


def flow_typed_voucher():
    c = Counter()
    c.keys("D2")
    for group in ("2222", "3", "9999", "44", "22", "666", "7", "77", "666"):
        c.keys(group)
        c.wait(1500)
    asked = ("lookup", VOUCHER) in c.keys("A")  # its value is asked, as for a scan
    return asked and c.app.state == "lookup" and c.app.token == VOUCHER, c.text()


def flow_amount_max():
    c = Counter()
    c.send("scan", VOUCHER)
    out = c.keys("150000")
    return c.app.amount.cents == 15000 and out[-1] == ("beep", "alert"), c.text()


def flow_update():
    c = Counter()
    c.send("update", "installing")
    c.send("scan", CARD)
    ok = c.app.screen[0] == "MISE A JOUR" and not c.money()
    c.send("update", None)
    return ok and c.app.state == "idle", c.text()


KEYS = "0123456789ABCD*#"
SCANS = [CARD, VOUCHER, CARD[:-1] + "0", "", "2DZHB6PQ7", "xx"]
UPDATES = [None, "queued", "downloading", "installing", "failed"]


def random_event(rnd, now):
    r = rnd.randrange(9)
    if r < 4:
        return ("key", KEYS[rnd.randrange(len(KEYS))]), now
    if r == 4:
        return ("scan", SCANS[rnd.randrange(len(SCANS))]), now
    if r == 5:
        now = max(0, now + rnd.randrange(-2000, 40000))
        return ("tick", now), now
    if r == 6:
        return ("net", rnd.randrange(3) > 0), now
    if r == 7:
        seq = 1 + rnd.randrange(3)
        st = ("approved", "declined", "error")[rnd.randrange(3)]
        msg = {"t": ("debit_res", "void_res")[rnd.randrange(2)], "seq": seq, "st": st,
               "amt": rnd.randrange(100000)}
        if st != "approved":
            codes = sorted(CODES)
            msg["code"] = codes[rnd.randrange(len(codes))]
        return ("result", msg), now
    if rnd.randrange(2):
        return ("sent", 1 + rnd.randrange(3)), now
    return ("update", UPDATES[rnd.randrange(len(UPDATES))]), now


def fuzz(rounds):
    rnd = random.Random(1234) if hasattr(random, "Random") else None
    if rnd is None:  # MicroPython's random module has functions only
        random.seed(1234)
        rnd = random
    problems = []
    for _ in range(rounds):
        app = CounterApp(CONFIG if rnd.randrange(4) else None, 0)
        now, online = 0, False
        for _ in range(60):
            event, now = random_event(rnd, now)
            journal_busy = app.pending is not None
            out = app.handle(event)
            for action in out:
                if action[0] == "show" and not fits(action[1]):
                    problems.append("screen " + repr(action[1]))
                if action[0] == "log" and action[1].startswith("app error"):
                    problems.append(action[1])
                if action[0] in ("debit", "void") and (not online or journal_busy):
                    problems.append("money action " + repr(action) + " online=" + str(online))
            if event[0] == "net":
                online = event[1]
        if problems:
            break
    return not problems, problems[:3]


def memory():
    # What the application keeps while it sells: one instance, through a whole sale. The
    # actions it returns are dropped at once, as the runtime does after carrying them out.
    sale = [("tick", 0), ("net", True), ("scan", CARD)] + [("key", k) for k in "21234AA"]
    sale += [("sent", 7), ("result", approved(7))]
    before = free()
    app = CounterApp(CONFIG, 0)
    created = free()
    for event in sale:
        app.handle(event)
    after = free()
    print("INFO app_memory import_bytes %d instance_bytes %d after_sale_bytes %d micropython %s"
          % (FREE_BEFORE_IMPORT - FREE_AFTER_IMPORT, before - created, before - after, MICRO))
    return app.last_sale_seq == 7, ""


def flow_cap():
    # books: 6 EUR per purchase, from the config; shown, enforced, and said when refused.
    c = Counter()
    c.send("scan", CARD)
    c.keys("1")
    shown = "Max     6,00 EUR" in c.app.screen
    out = c.keys("6001")
    ok = shown and c.app.amount.cents == 600 and out[-1] == ("beep", "alert")
    c.keys("A")
    out = c.keys("A")
    c.send("sent", 7)
    c.send("result", refused(7, "over_purchase_cap", amt=600))
    return ok and ("debit", CARD, 600, "books") in out and "Max     6,00 EUR" in c.app.screen, \
        c.text()


def flow_coupon_value():
    # A wrong coupon amount: the refusal carries the value, pre-filled on the confirm screen.
    c = Counter()
    c.send("scan", VOUCHER)
    c.keys("500AA")
    c.send("sent", 7)
    c.send("result", refused(7, "voucher_amount", amt=30000))
    shown = c.app.state == "confirm" and "      300,00 EUR" in c.app.screen
    shown = shown and "Coupon " + VOUCHER in c.app.screen
    out = c.keys("A")
    return shown and ("debit", VOUCHER, 30000, None) in out, c.text()


def flow_coupon_lookup():
    # Scanned: its value is asked, shown pre-filled, and one key sends it; not answered in
    # time: typed as before; used: refused at once, no amount screen.
    c = Counter(dict(CONFIG, amax=50000))  # a driving school: coupons of 300 EUR
    out = c.send("scan", VOUCHER)
    ok = ("lookup", VOUCHER) in out and c.app.state == "lookup"
    c.send("code", {"t": "code_res", "tok": VOUCHER, "amt": 30000, "cat": "driving"})
    ok = ok and c.app.state == "confirm" and "      300,00 EUR" in c.app.screen
    ok = ok and ("debit", VOUCHER, 30000, None) in c.keys("A")
    c.send("sent", 7)
    c.send("result", approved(7))
    c.keys("B")
    c.send("scan", VOUCHER)
    c.wait(4000)
    ok = ok and c.app.state == "amount"
    c.keys("B")
    c.send("scan", VOUCHER)
    c.send("code", {"t": "code_res", "tok": VOUCHER, "amt": 30000, "code": "voucher_used"})
    ok = ok and c.app.state == "result" and "Coupon deja" in c.text()
    return ok and len(c.money()) == 1, c.text()


def flow_texts():
    # Short texts: a typed typo, the menu without a sale, the cancel question naming the card.
    c = Counter()
    c.keys("D")
    ok = "3 Rien a annuler" in c.app.screen and "2 Code coupon" in c.app.screen
    c.keys("1" + CARD[:-1] + str((int(CARD[-1]) + 1) % 10) + "A")
    ok = ok and "Code errone" in c.app.screen
    c.keys("B")
    c.sell(7)
    c.send("result", approved(7))
    c.keys("D3")
    return ok and "Carte ****" + CARD[-4:] in c.app.screen, c.text()


for name, check in (("sale_approved", flow_sale_approved), ("declined", flow_declined),
                    ("misread_code", flow_misread), ("offline_refuses", flow_offline),
                    ("retransmit_same_seq", flow_retransmit),
                    ("service_unavailable_waits", flow_service_unavailable),
                    ("void_last_sale", flow_void), ("typed_voucher", flow_typed_voucher),
                    ("amount_over_max", flow_amount_max), ("update_screen", flow_update),
                    ("cap", flow_cap), ("coupon_value", flow_coupon_value),
                    ("coupon_lookup", flow_coupon_lookup),
                    ("short_texts", flow_texts),
                    ("memory", memory)):
    try:
        ok, detail = check()
        report(name, ok, detail)
    except Exception as err:  # report, do not stop: every flow gets its line
        report(name, False, repr(err))
try:
    report("random_events", *fuzz(ROUNDS))
except Exception as err:
    report("random_events", False, repr(err))
print("SUMMARY %d %d" % (RESULTS[0], RESULTS[1]))
if RESULTS[1]:
    sys.exit(1)
