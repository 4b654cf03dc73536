"""The counter application, walked through whole sales the way the runtime drives it: the idle
screen, a card or coupon sale from category to approval, category caps and the program
maximum, declines and final errors, the unconfigured terminal, several pages of categories and
screens that go back to idle by themselves. Portable: pytest runs it on CPython, runner.py on the
MicroPython binary (MicroPython-safe code only)."""

from counter_driver import BOOKS, CARD, CONFIG, CULTURE, VOUCHER, Counter, approved, refused


def test_idle_screen_shows_the_partner_name_and_the_connection_state():
    c = Counter(online=False)
    assert "Librairie des" in c.text() and "Non connecte" in c.text()
    c.send("net", True)
    assert c.app.screen[0] == "PRET" and "Connecte" in c.app.screen


def test_a_card_sale_asks_the_category_then_the_amount_and_is_approved_with_a_happy_beep():
    c = Counter()
    c.send("scan", CARD)
    assert c.app.state == "category" and "2 Spectacles & c" in c.app.screen
    c.keys("2")
    assert c.app.state == "amount"
    c.keys("1234")
    assert "12,34 EUR" in c.text()
    c.keys("A")
    assert c.app.state == "confirm" and "Spectacles" in c.text() and "12,34 EUR" in c.text()
    out = c.keys("A")
    assert ("debit", CARD, 1234, "culture") in out and c.app.state == "waiting"
    c.send("sent", 7)
    out = c.send("result", approved(7, bal=2766))
    assert c.beeps(out) == ["happy"] and ("led", "ok") in out
    assert c.app.screen[0] == "VENTE ACCEPTEE"
    assert "12,34 EUR" in c.text() and "27,66 EUR" in c.text() and "A1B2C3" in c.text()
    assert c.app.last_sale_seq == 7 and not c.app.busy


def test_the_balance_line_is_left_out_when_the_ledger_does_not_give_it():
    c = Counter()
    c.sell()
    c.send("result", approved(7))
    assert "Solde" not in c.text() and "A1B2C3" in c.text()


def test_a_voucher_sale_asks_no_category():
    c = Counter()
    c.send("scan", VOUCHER)
    assert c.app.state == "lookup" and ("Coupon " + VOUCHER) in c.app.screen
    out = c.keys("1000AA")  # typed without waiting for its value: the amount screen takes it
    assert ("debit", VOUCHER, 1000, None) in out


def test_a_single_category_is_used_without_asking_and_its_cap_shown_and_enforced():
    c = Counter(dict(CONFIG, cats=[BOOKS]))
    c.send("scan", CARD)
    assert c.app.state == "amount" and "Max     6,00 EUR" in c.app.screen
    out = c.keys("6001")  # 60,01 EUR: the last digit goes over the 6 EUR cap
    assert c.beeps(out)[-1] == "alert" and c.app.amount.cents == 600
    assert "Plafond par" in c.app.screen and "achat depasse" in c.app.screen
    assert ("debit", CARD, 500, "books") in c.keys("C500AA")


def test_the_amount_bound_is_the_program_maximum_when_lower_than_the_cap():
    c = Counter(dict(CONFIG, cats=[dict(BOOKS, cap=90000)]))
    c.send("scan", CARD)
    assert "Max   150,00 EUR" in c.app.screen
    c.keys("150001")
    assert "Montant trop" in c.app.screen and c.app.amount.cents == 15000


def test_the_cap_refusal_of_the_ledger_says_the_cap():
    c = Counter(dict(CONFIG, cats=[CULTURE]))  # the terminal knew no cap
    c.sell(keys="9000A")
    c.send("result", refused(7, "over_purchase_cap", amt=2500))
    assert c.app.screen[:4] == ["VENTE REFUSEE", "", "Plafond par", "achat depasse"]
    assert "Max    25,00 EUR" in c.app.screen


def test_a_declined_sale_shows_the_french_reason_with_a_sad_beep():
    c = Counter()
    c.sell()
    out = c.send("result", refused(7, "over_purchase_cap"))
    assert c.app.screen[0] == "VENTE REFUSEE" and c.beeps(out) == ["sad"]
    assert "Plafond par" in c.app.screen and "achat depasse" in c.app.screen
    assert c.app.last_sale_seq is None


def test_a_final_error_is_shown_as_an_error_and_ends_the_wait():
    c = Counter()
    c.sell()
    c.send("result", refused(7, "ts_out_of_window", st="error"))
    assert c.app.screen[0] == "ERREUR" and "Horloge a regler" in c.app.screen
    assert c.app.pending_seq is None


def test_busy_while_a_sale_is_typed_or_waits_for_its_answer():
    c = Counter()
    assert not c.app.busy
    c.send("scan", CARD)
    assert c.app.busy
    c.keys("1100AA")
    assert c.app.busy
    c.send("sent", 3)
    c.send("result", approved(3))
    assert not c.app.busy


def test_an_unconfigured_terminal_sells_nothing():
    c = Counter(config=None)
    assert "configuration" in c.app.screen
    c.send("scan", CARD)
    assert "Terminal non" in c.text() and not c.money()
    c.send("config", CONFIG)
    c.keys("B")
    assert "Librairie des" in c.app.screen


def test_result_and_half_typed_screens_go_back_to_idle_by_themselves():
    c = Counter()
    c.sell(seq=7)
    c.send("result", approved(7))
    c.wait(20000)
    assert c.app.state == "idle"
    c.send("scan", CARD)
    c.wait(120000)
    assert c.app.state == "idle" and c.app.token is None


def test_eight_categories_are_shown_on_two_pages():
    cats = [{"c": f"c{i}", "l": f"Categorie {i}"} for i in range(1, 9)]
    c = Counter(dict(CONFIG, cats=cats))
    c.send("scan", CARD)
    assert "6 Categorie 6" in c.app.screen and "0: autres" in c.app.screen
    assert "7 Categorie 7" not in c.app.screen
    c.keys("0")
    assert "7 Categorie 7" in c.app.screen and "8 Categorie 8" in c.app.screen
    c.keys("8")
    assert c.app.cat["c"] == "c8"
