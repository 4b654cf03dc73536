"""The counter application, walked through whole flows the way the runtime drives it, and
seeded random event sequences checked for the invariants. Portable: pytest runs it on CPython,
runner.py on the MicroPython binary (MicroPython-safe code only); the hypothesis version of the
random sequences is tests/unit/firmware/test_counter_app.py."""

import random

from terminal import screens
from terminal.app import CounterApp
from terminal.keyentry import AmountEntry, CodeEntry

from protocol.errors import CODES
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


def test_a_misread_code_asks_to_scan_again():
    c = Counter()
    bad = CARD[:-1] + str((int(CARD[-1]) + 1) % 10)
    out = c.send("scan", bad)
    assert "Code illisible," in c.app.screen and "rescannez" in c.app.screen
    assert c.beeps(out) == ["sad"] and c.app.state == "notice"
    c.send("scan", CARD)  # scanning again simply starts the sale
    assert c.app.state == "category" and not c.money()


def test_a_damaged_qr_code_is_typed_as_the_twelve_digit_card_code():
    c = Counter()
    c.keys("D1")
    assert c.app.screen[0] == "CODE CARTE"
    c.keys(CARD)
    assert CARD[:4] + " " + CARD[4:8] + " " + CARD[8:] + "_" in c.app.screen
    c.keys("A")
    assert c.app.state == "category" and c.app.token == CARD


def test_a_digit_on_the_idle_screen_starts_typing_a_card_code():
    c = Counter()
    c.keys(CARD + "#")
    assert c.app.state == "category" and c.app.token == CARD


def test_a_typo_in_a_typed_code_is_caught_and_corrected_before_anything_is_sent():
    c = Counter()
    c.keys("D1" + CARD[:-1] + "0A")
    assert c.app.state == "code" and "Code errone" in c.app.screen  # typed: not "rescan"
    assert c.app.screen[-1] == "A:OK *:corr B:x"  # a one-line error leaves the hint in place
    c.keys("*" + CARD[-1] + "A")
    assert c.app.state == "category" and not c.money()


def test_a_voucher_code_is_typed_with_multi_tap_letters():
    c = Counter()
    c.keys("D2")
    assert c.app.screen[0] == "CODE COUPON"
    # 2DZHB6PQ6: "2" x4 = 2, "3" = D, "9" x4 = Z, "4" x2 = H, "2" x2 = B, "6" x3 = 6,
    # "7" = P, "7" x2 = Q, then the check character 6.
    for group in ("2222", "3", "9999", "44", "22", "666", "7", "77", "666"):
        c.keys(group)
        c.wait(1500)  # the letter is committed by the time-out
    assert c.app.code.value() == VOUCHER
    assert ("lookup", VOUCHER) in c.keys("A")  # its value is asked, as for a scan
    assert c.app.state == "lookup" and c.app.token == VOUCHER


def test_multi_tap_offers_only_crockford_letters():
    entry = CodeEntry("voucher")
    seen = set()
    for key in "0123456789":
        for taps in range(6):
            entry.key("C", 0)
            for _ in range(taps + 1):
                entry.key(key, 0)
            seen.add(entry.value())
    assert not seen & set("ILOU") and set("ABCDEFGHJKMNPQRSTVWXYZ0123456789") <= seen


def test_another_key_commits_the_pending_letter_and_star_removes_it():
    entry = CodeEntry("voucher")
    entry.key("2", 0)
    entry.key("2", 100)
    entry.key("3", 200)  # commits B, starts D
    assert entry.value() == "BD"
    entry.key("*", 300)
    assert entry.value() == "B" and entry.pending_key is None


def test_amount_digits_shift_in_from_the_right_with_correction_and_clear():
    entry = AmountEntry(15000)
    for k in "1234":
        entry.key(k)
    assert entry.cents == 1234
    entry.key("*")
    assert entry.cents == 123
    entry.key("C")
    assert entry.cents == 0
    assert entry.key("0") and entry.cents == 0


def test_an_amount_over_the_program_maximum_is_refused_locally():
    c = Counter()
    c.send("scan", VOUCHER)
    out = c.keys("15000")
    assert c.app.amount.cents == 15000 and c.beeps(out) == ["click"] * 5
    out = c.keys("0")
    assert c.beeps(out) == ["alert"] and c.app.amount.cents == 15000
    assert "Montant trop" in c.text() and "150,00 EUR" in c.text()


def test_a_zero_amount_cannot_be_validated():
    c = Counter()
    c.send("scan", VOUCHER)
    c.wait(5000)  # its value never came: the amount is typed
    c.keys("A")
    assert c.app.state == "amount" and "Montant invalide" in c.app.screen


def test_back_goes_one_step_back_and_clear_empties_the_amount():
    c = Counter()
    c.send("scan", CARD)
    c.keys("112A")
    c.keys("B")
    assert c.app.state == "amount" and c.app.amount.cents == 12
    c.keys("CB")
    assert c.app.state == "category"
    c.keys("B")
    assert c.app.state == "idle" and not c.money()


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


def test_no_sale_starts_while_offline():
    c = Counter(online=False)
    for start in (("scan", CARD), ("key", "4")):
        out = c.send(*start)
        assert "Hors ligne -" in c.app.screen and "vente impossible" in c.app.screen
        assert c.beeps(out) == ["sad"]
        c.keys("B")
    c.keys("D1")
    assert c.app.state == "notice" and not c.money()


def test_a_sale_validated_after_the_link_dropped_is_refused_not_queued():
    c = Counter()
    c.send("scan", CARD)
    c.keys("1500A")
    c.send("net", False)
    assert "Hors ligne!" in c.app.screen
    out = c.keys("A")
    assert c.beeps(out) == ["sad"] and c.app.state == "confirm" and not c.money()
    c.send("net", True)
    assert ("debit", CARD, 500, "books") in c.keys("A")


def test_a_lost_answer_is_retransmitted_with_the_same_seq():
    c = Counter()
    c.sell(seq=42)
    assert c.wait(4000) == []
    assert ("retransmit", 42) in c.wait(1000)
    assert ("retransmit", 42) in c.wait(5000)
    assert "Essai 3" in c.app.screen
    c.send("result", approved(42))
    assert c.app.screen[0] == "VENTE ACCEPTEE"
    assert [a for a in c.actions if a[0] == "retransmit"] == [("retransmit", 42)] * 2
    assert len(c.money()) == 1


def test_without_answer_the_staff_is_told_but_the_operation_is_kept_and_its_late_result_shown():
    c = Counter()
    c.sell(seq=42)
    for _ in range(6):
        c.wait(5000)
    assert c.app.state == "no_answer" and "Reessayez plus" in c.app.screen
    assert c.app.pending_seq == 42 and not c.app.busy
    c.keys("B")
    assert "Op. en attente" in c.app.screen
    c.send("scan", CARD)  # one money movement at a time: no new sale meanwhile
    assert c.app.state == "notice" and len(c.money()) == 1
    c.send("net", False)
    assert not [a for a in c.wait(60000) if a[0] == "retransmit"]  # pointless while offline
    assert ("retransmit", 42) in c.send("net", True)
    c.send("result", approved(42))
    assert c.app.screen[0] == "VENTE ACCEPTEE" and c.app.pending_seq is None


def test_service_unavailable_is_not_final_and_the_request_is_asked_again():
    c = Counter()
    c.sell(seq=9)
    out = c.send("result", refused(9, "service_unavailable", st="error", amt=0))
    assert c.app.state == "waiting" and "Service indispo." in c.app.screen
    assert c.beeps(out) == []
    assert ("retransmit", 9) in c.wait(5000)
    c.send("result", approved(9))
    assert c.app.screen[0] == "VENTE ACCEPTEE"


def test_a_result_for_another_seq_is_ignored():
    c = Counter()
    c.sell(seq=9)
    c.send("result", approved(8))
    assert c.app.state == "waiting" and c.app.pending_seq == 9


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


def test_an_update_in_progress_shows_its_screen_and_blocks_sales():
    c = Counter()
    c.send("update", "queued")
    assert "MAJ programmee" in c.app.screen
    c.send("update", "installing")
    assert c.app.screen[0] == "MISE A JOUR" and "installing" in c.app.screen
    c.send("scan", CARD)
    c.keys("D1")
    assert c.app.state == "update" and not c.money()
    c.send("update", None)
    assert c.app.state == "idle"


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


def test_an_operation_found_in_the_journal_at_boot_is_awaited_and_its_result_shown():
    c = Counter()
    c.send("sent", 55)
    assert c.app.state == "waiting" and c.app.pending_seq == 55
    c.send("result", approved(55, amt=800))
    assert c.app.screen[0] == "VENTE ACCEPTEE" and "8,00 EUR" in c.text()
    assert c.app.last_sale_seq == 55


def test_an_operation_reported_from_the_journal_during_a_sale_blocks_its_validation():
    c = Counter()
    c.send("scan", VOUCHER)
    c.keys("100A")
    c.send("sent", 55)
    out = c.keys("A")
    assert c.beeps(out) == ["sad"] and "Op. en attente" in c.app.screen and not c.money()
    c.send("result", approved(55))
    assert c.app.screen[0] == "VENTE ACCEPTEE"


def test_a_request_the_runtime_never_sent_is_dropped_with_an_error_screen():
    c = Counter()
    c.send("scan", VOUCHER)
    c.keys("100AA")
    c.wait(15000)
    assert c.app.screen[0] == "ERREUR" and c.app.pending_seq is None
    c.keys("B")
    assert c.app.state == "idle"


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


DRIVING = dict(CONFIG, amax=50000)  # a driving school: coupons of 300 and 500 EUR


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
