"""The counter application's keypad, the way the runtime drives it: a misread scan, a card or
coupon code typed (check character, multi-tap letters of the Crockford alphabet), amounts typed
with correction, clear and bounds, and going one step back. Portable: pytest runs it on CPython,
runner.py on the MicroPython binary (MicroPython-safe code only)."""

from counter_driver import CARD, VOUCHER, Counter
from terminal.keyentry import AmountEntry, CodeEntry


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
