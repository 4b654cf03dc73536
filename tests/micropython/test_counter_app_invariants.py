"""The counter application's invariants: every screen fits the 16x8 ASCII display, and seeded
random event sequences never fail, never overflow a screen and never move money offline or
while an operation is pending. Portable: pytest runs it on CPython, runner.py on the MicroPython
binary (MicroPython-safe code only); the hypothesis version of the random sequences is
tests/unit/firmware/test_counter_app.py."""

import random

from counter_driver import CARD, CONFIG, VOUCHER
from terminal import screens
from terminal.app import CounterApp

from protocol.errors import CODES


def test_every_screen_fits_the_display():
    long = "é" * 60
    for lines in (screens.idle(long, True, True, True), screens.message(long, long),
                  screens.amount(long, 99999999, 99999999, long),
                  screens.void_confirm(99999999, long),
                  screens.confirm(long, long, 99999999, long),
                  screens.declined("voucher_amount", False, False, 99999999),
                  screens.approved(99999999, 99999999, "ABCDEFGHIJKL"),
                  screens.declined("over_purchase_cap", True, False),
                  screens.code_entry("card", long, long, long)):
        assert_fits(lines)
    for code in CODES:
        assert_fits(screens.declined(code, False, False))


def assert_fits(lines):
    assert isinstance(lines, list) and len(lines) <= 8
    for line in lines:
        assert isinstance(line, str) and len(line) <= 16 and all(ord(ch) < 128 for ch in line)


# ---- random event sequences, seeded ----------------------------------------------------------

RANDOM_ROUNDS = 300
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


def test_random_event_sequences_keep_the_invariants_seeded():
    rnd = random.Random(1234) if hasattr(random, "Random") else None
    if rnd is None:  # MicroPython's random module has functions only
        random.seed(1234)
        rnd = random
    for _ in range(RANDOM_ROUNDS):
        app = CounterApp(CONFIG if rnd.randrange(4) else None, 0)
        now, online = 0, False
        for _ in range(60):
            event, now = random_event(rnd, now)
            journal_busy = app.pending is not None
            for action in app.handle(event):
                if action[0] == "show":
                    assert_fits(action[1])
                if action[0] == "log":
                    assert not action[1].startswith("app error"), action
                if action[0] in ("debit", "void"):
                    assert online and not journal_busy, repr(action) + " online=" + str(online)
            if event[0] == "net":
                online = event[1]
