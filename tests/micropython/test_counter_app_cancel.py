"""The counter application cancelling the last sale, the way the runtime drives it: the menu,
the confirmation naming the card or coupon, saying no, a refused cancel, and only an approved
last sale offered. Portable: pytest runs it on CPython, runner.py on the MicroPython binary
(MicroPython-safe code only)."""

from counter_driver import CARD, VOUCHER, Counter, approved, refused


def test_cancel_asks_for_confirmation_then_sends_the_void():
    c = Counter()
    c.sell(seq=7)
    c.send("result", approved(7))
    c.keys("D")  # from the result screen straight to the menu
    assert "3 Annuler vente" in c.app.screen
    c.keys("3")
    assert c.app.screen[0] == "ANNULER ?" and "12,34 EUR" in c.text() and not c.money()[1:]
    assert "Carte ****" + CARD[-4:] in c.app.screen  # which sale is about to be cancelled
    out = c.keys("A")
    assert ("void", 7) in out and c.app.state == "waiting"
    c.send("sent", 8)
    out = c.send("result", dict(approved(8, t="void_res"), oseq=7))
    assert c.app.screen[0] == "VENTE ANNULEE" and c.beeps(out) == ["happy"]
    assert c.app.last_sale_seq is None


def test_saying_no_to_the_cancel_question_sends_nothing():
    c = Counter()
    c.sell(seq=7)
    c.send("result", approved(7))
    c.keys("D3B")
    assert c.app.state == "idle" and c.app.last_sale_seq == 7 and len(c.money()) == 1


def test_a_refused_cancel_shows_why():
    c = Counter()
    c.sell(seq=7)
    c.send("result", approved(7))
    c.keys("D3A")
    c.send("sent", 8)
    c.send("result", refused(8, "void_not_allowed", t="void_res"))
    assert c.app.screen[0] == "ANNUL. REFUSEE" and "Annulation" in c.app.screen


def test_a_cancel_refused_offline_says_cancel_not_sale():
    c = Counter()
    c.sell(seq=7)
    c.send("result", approved(7))
    c.send("net", False)
    c.keys("D3")  # asked while offline
    assert c.app.screen[0] == "HORS LIGNE" and "annulation" in c.app.screen
    assert "impossible" in c.app.screen and "vente impossible" not in c.app.screen
    c.keys("B")
    c.send("net", True)
    c.keys("D3")
    c.send("net", False)
    out = c.keys("A")  # validated as the link dropped
    assert ("void", 7) not in out and "annulation" in c.app.screen
    assert c.app.last_sale_seq == 7 and len(c.money()) == 1


def test_the_refusal_screens_fit_for_a_sale_and_for_a_cancel():
    from terminal import screens
    for what in (None, "debit", "void"):
        for screen in (screens.offline_refusal(what), screens.busy_refusal(what)):
            assert len(screen) == 8 and all(len(line) <= 16 for line in screen), screen
            assert screen[-1] == "B: retour"
    assert "vente impossible" in screens.busy_refusal()
    assert screens.busy_refusal("void")[5:7] == ["annulation", "impossible"]


def test_the_cancel_confirmation_names_the_coupon():
    c = Counter()
    c.sell(token=VOUCHER, keys="1000A", seq=7)
    c.send("result", approved(7, amt=1000))
    c.keys("D3")
    assert c.app.screen[:4] == ["ANNULER ?", "Derniere vente:", "Coupon " + VOUCHER,
                                "       10,00 EUR"]


def test_the_menu_says_when_there_is_nothing_to_cancel():
    c = Counter()
    c.keys("D")
    assert "3 Rien a annuler" in c.app.screen and "2 Code coupon" in c.app.screen


def test_only_an_approved_last_sale_can_be_cancelled():
    c = Counter()
    c.keys("D3")
    assert "Aucune vente a" in c.text()
    c.sell(seq=7)
    c.send("result", approved(7))
    c.keys("B")
    c.sell(seq=8)
    c.send("result", refused(8, "insufficient_balance"))
    c.keys("BD3")
    assert c.app.state == "notice" and "Aucune vente a" in c.text()
    assert [a for a in c.money() if a[0] == "void"] == []
