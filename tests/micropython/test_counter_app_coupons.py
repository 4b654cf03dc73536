"""The counter application with coupons of a fixed value, the way the runtime drives it: a wrong
amount refused with the expected value offered to confirm, a coupon out of order, and the value
asked of the server on a scan (shown pre-filled, never coming, used, unknown to the ledger, for
another code, corrected, over the terminal's maximum). Portable: pytest runs it on CPython,
runner.py on the MicroPython binary (MicroPython-safe code only)."""

from counter_driver import CONFIG, VOUCHER, Counter, approved, refused

from protocol.tokens import make_voucher

DRIVING = dict(CONFIG, amax=50000)  # a driving school: coupons of 300 and 500 EUR


def test_a_wrong_coupon_amount_is_refused_with_its_value_pre_filled_to_confirm():
    c = Counter()
    c.sell(token=VOUCHER, keys="500A", seq=7)
    out = c.send("result", refused(7, "voucher_amount", amt=30000))
    # Not a dead end: the value the ledger expects is shown, ready to confirm with one key.
    assert c.app.state == "confirm" and c.beeps(out) == ["alert"]
    assert c.app.screen[:6] == ["CONFIRMER ?", "Coupon " + VOUCHER, "", "      300,00 EUR",
                                "Montant du", "coupon attendu"]
    assert c.money() == [("debit", VOUCHER, 500, None)]  # nothing sent before the clerk says
    assert ("debit", VOUCHER, 30000, None) in c.keys("A")


def test_a_late_wrong_coupon_amount_refusal_still_says_the_value():
    c = Counter()
    c.sell(token=VOUCHER, keys="500A", seq=7)
    c.wait(31000)  # no answer: the clerk leaves, the sale is forgotten on screen
    c.keys("B")
    c.send("result", refused(7, "voucher_amount", amt=30000))
    assert c.app.state == "result" and "      300,00 EUR" in c.app.screen
    assert "coupon attendu" in c.app.screen and len(c.money()) == 1


def test_a_coupon_out_of_order_says_what_to_do():
    c = Counter()
    c.sell(token=VOUCHER, keys="500A", seq=7)
    c.send("result", refused(7, "coupon_out_of_order", amt=0))
    assert c.app.screen[2:4] == ["Coupon precedent", "d'abord"]


def value_of(code=VOUCHER, amt=30000, refusal=None):
    """A code_res as the runtime hands it over (MAC and nonce checked)."""
    msg = {"t": "code_res", "v": 1, "tok": code, "amt": amt, "cat": "driving"}
    if refusal:
        msg["code"] = refusal
    return msg


def test_a_scanned_coupon_shows_its_value_pre_filled_and_one_key_sends_it():
    c = Counter(DRIVING)
    out = c.send("scan", VOUCHER)
    assert ("lookup", VOUCHER) in out and c.money() == []  # asked, nothing moves yet
    out = c.send("code", value_of())
    assert c.app.state == "confirm" and c.beeps(out) == ["click"]
    assert c.app.screen[:4] == ["CONFIRMER ?", "Coupon " + VOUCHER, "", "      300,00 EUR"]
    assert ("debit", VOUCHER, 30000, None) in c.keys("A")  # no amount typed
    c.send("sent", 7)
    c.send("result", approved(7, amt=30000))
    assert c.app.state == "result" and "      300,00 EUR" in c.app.screen


def test_a_coupon_whose_value_never_comes_is_typed_as_before():
    c = Counter(DRIVING)
    c.send("scan", VOUCHER)
    c.wait(3000)
    assert c.app.state == "lookup"
    out = c.wait(1500)  # server or ledger down, or a server without lookups
    assert c.app.state == "amount" and ("Coupon " + VOUCHER) in c.app.screen
    assert any(a[0] == "log" and "no code value" in a[1] for a in out)
    c.send("code", value_of())  # too late: the clerk is typing, nothing changes under them
    assert c.app.state == "amount" and c.app.amount.cents == 0
    assert ("debit", VOUCHER, 1500, None) in c.keys("1500AA")


def test_a_used_coupon_is_refused_at_once_without_an_amount_screen():
    c = Counter(DRIVING)
    c.send("scan", VOUCHER)
    out = c.send("code", value_of(refusal="voucher_used"))
    assert c.app.state == "result" and c.beeps(out) == ["sad"]
    assert c.app.screen[0] == "VENTE REFUSEE" and "Coupon deja" in c.text()
    c.keys("A")
    assert c.app.state == "idle" and c.money() == []


def test_a_coupon_lookup_the_ledger_could_not_answer_falls_back_to_the_amount():
    c = Counter(DRIVING)
    c.send("scan", VOUCHER)
    c.send("code", value_of(amt=0, refusal="service_unavailable"))
    assert c.app.state == "amount" and c.app.amount.cents == 0


def test_an_answer_for_another_code_or_when_nothing_is_asked_is_ignored():
    c = Counter(DRIVING)
    c.send("code", value_of())
    assert c.app.state == "idle"
    c.send("scan", VOUCHER)
    c.send("code", value_of(code=make_voucher("00000000")))
    assert c.app.state == "lookup"
    c.keys("B")
    assert c.app.state == "idle"


def test_a_coupon_value_is_confirmed_or_corrected_like_any_amount():
    c = Counter(DRIVING)
    c.send("scan", VOUCHER)
    c.send("code", value_of())
    c.keys("B")  # the clerk wants another amount: the value stays, to correct
    assert c.app.state == "amount" and c.app.amount.cents == 30000


def test_a_coupon_worth_more_than_the_terminal_may_take_is_typed_and_refused_as_before():
    c = Counter()  # amax 150 EUR
    c.send("scan", VOUCHER)
    c.send("code", value_of())
    assert c.app.state == "amount" and c.app.amount.cents == 0
