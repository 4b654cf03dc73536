"""The counter application under random event sequences (hypothesis): the invariants hold
whatever comes. The scripted flows, and the seeded version of these sequences, run on both
runtimes: tests/micropython/test_counter_app_*.py (invariants: test_counter_app_invariants.py)."""

from hypothesis import given, settings
from hypothesis import strategies as st
from terminal.app import CounterApp

from protocol.errors import CODES
from protocol.tokens import make_card, make_voucher

CARD = make_card("12345678901")
VOUCHER = make_voucher("2DZHB6PQ")


def assert_fits(lines):
    assert isinstance(lines, list) and len(lines) <= 8
    for line in lines:
        assert isinstance(line, str) and len(line) <= 16 and all(ord(ch) < 128 for ch in line)


# ---- random event sequences ----------------------------------------------------------------

_text = st.text(max_size=30)
_cat = st.fixed_dictionaries({"c": st.sampled_from(["books", "sport", "culture", "x"]),
                              "l": st.text(max_size=24)},
                             optional={"cap": st.integers(0, 99999999)})
_config = st.fixed_dictionaries({"partner": st.text(max_size=40),
                                 "cats": st.lists(_cat, max_size=8),
                                 "amax": st.integers(1, 99999999), "hb": st.just(60)})
_result = st.fixed_dictionaries(
    {"t": st.sampled_from(["debit_res", "void_res"]), "seq": st.integers(1, 3),
     "st": st.sampled_from(["approved", "declined", "error"]),
     "amt": st.integers(0, 99999999)},
    optional={"code": st.sampled_from(sorted(CODES)), "bal": st.integers(0, 99999999),
              "auth": st.text("ABC123", min_size=1, max_size=12)})
_event = st.one_of(
    st.tuples(st.just("key"), st.sampled_from(list("0123456789ABCD*#"))),
    st.tuples(st.just("scan"), st.one_of(st.sampled_from([CARD, VOUCHER, CARD[:-1] + "0",
                                                          "2DZHB6PQ7", "", "http://x/" + CARD]),
                                         _text)),
    st.tuples(st.just("tick"), st.integers(-2000, 40000)),
    st.tuples(st.just("net"), st.booleans()),
    st.tuples(st.just("config"), _config),
    st.tuples(st.just("result"), _result),
    st.tuples(st.just("sent"), st.integers(1, 3)),
    st.tuples(st.just("code"), st.fixed_dictionaries(
        {"tok": st.sampled_from([VOUCHER, CARD]), "amt": st.integers(0, 99999999)},
        optional={"code": st.sampled_from(sorted(CODES))})),
    st.tuples(st.just("update"), st.sampled_from([None, "queued", "downloading", "installing",
                                                  "succeeded", "failed"])),
)

# Whole flows too, or random events would rarely get as far as a debit: a sale (scan, a
# category key, amount keys, validate; then maybe another event; validate again) and a
# cancellation (menu, 3, validate).
_between = st.one_of(st.just([]), _event.map(lambda e: [e]))
_sale = st.tuples(st.sampled_from([CARD, VOUCHER]), st.sampled_from("12389"),
                  st.text("0123456789*C", max_size=9), _between).map(
    lambda s: [("net", True), ("scan", s[0]), ("key", s[1]), ("key", "5")]
    + [("key", k) for k in s[2]] + [("key", "A")] + s[3] + [("key", "A")])
_cancel = st.just([("key", "D"), ("key", "3"), ("key", "A")])
_answer = st.tuples(st.integers(1, 3), _result).map(
    lambda s: [("sent", s[0]), ("result", dict(s[1], seq=s[0]))])
_approve = st.integers(1, 3).map(
    lambda n: [("sent", n), ("result", {"t": "debit_res", "seq": n, "st": "approved", "amt": 1})])
_steps = st.one_of(_event.map(lambda e: [e]), _sale, _cancel, _answer, _approve)


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 4).flatmap(lambda i: _config if i else st.none()),
       st.lists(_steps, max_size=40))
def test_random_event_sequences_keep_the_invariants(config, steps):
    app = CounterApp(config, 0)
    now = 0
    online = False
    outstanding = False  # a money action sent and not yet answered (the model's view)
    for kind, arg in [event for step in steps for event in step]:
        if kind == "tick":
            now = max(0, now + arg)  # mostly forward, sometimes a clock step back
            arg = now
        journal_busy = app.pending is not None  # includes an operation found at boot
        out = app.handle((kind, arg))
        assert isinstance(out, list)
        for action in out:
            assert action[0] in ("show", "beep", "led", "debit", "void", "retransmit", "log",
                                 "lookup")
            if action[0] == "log":
                assert not action[1].startswith("app error"), action
            if action[0] == "show":
                assert_fits(action[1])
            if action[0] in ("debit", "void"):
                assert online, "a money movement while offline"
                assert not outstanding, "a second money movement while one is pending"
                assert not journal_busy, "a money movement while the journal holds one"
                outstanding = True
            if action[0] == "debit":
                assert 0 < action[2] <= app.amount.max_cents  # amax of the sale's config
            if action[0] == "retransmit":
                assert action[1] == app.pending_seq
        if kind == "net":
            online = arg
        # Only a final result (or a request the runtime never sent) ends the wait.
        never_sent = any(a[0] == "log" and "never sent" in a[1] for a in out)
        if (kind == "result" or never_sent) and app.pending is None:
            outstanding = False
        assert outstanding == (app.pending is not None) or not outstanding
        assert app.state in ("idle", "menu", "code", "category", "amount", "confirm",
                             "void_confirm", "waiting", "no_answer", "result", "notice",
                             "update", "lookup")
        assert_fits(app.screen)

