"""End to end at the counter (the real firmware on the MicroPython binary, the project's
Mosquitto, the fleet server and the reference ledger): a card code typed on the keypad, a
voucher code typed by multi-tap, and a scanned coupon whose value is asked of the server and
offered pre-filled, then refused at once once used."""

import os

import pytest
from counter_terminal import any_screen, counter, key_of, stack, typed  # noqa: F401 (fixtures)
from fleet_stack import YEAR

from protocol import tokens

pytestmark = [pytest.mark.broker, pytest.mark.micropython]


def test_a_card_code_typed_on_the_keypad_sells(stack, counter):  # noqa: F811
    card = stack.beneficiary({"books": (2000, None)})
    counter.send("keys D1" + card + "A")
    assert "Carte ****" + card[-4:] in counter.wait_screen("MONTANT")
    counter.send("keys 450A")
    counter.wait_screen("4,50 EUR")
    counter.send("keys A")
    counter.wait_screen("VENTE ACCEPTEE")
    assert stack.ledger.balances(card)[0].balance_cents == 1550


def test_a_voucher_code_typed_by_multitap_sells(stack, counter):  # noqa: F811
    while True:  # no two neighbours on one key: each letter is committed by the next key
        code = tokens.make_voucher(tokens.random_payload32(8, os.urandom))
        if all(key_of(a) != key_of(b) for a, b in zip(code, code[1:], strict=False)):
            break
    stack.ledger.create_voucher(stack.program, code, "books", 1500, YEAR)
    counter.send("keys D2")
    counter.wait_screen("CODE COUPON")
    counter.send("keys " + typed(code) + "A")
    # Typed or scanned alike: its value is asked and offered, nothing to type.
    assert "|Coupon " + code + "||       15,00 EUR|" in counter.wait_screen("CONFIRMER",
                                                                          timeout=10)
    counter.send("keys A")
    counter.wait_screen("VENTE ACCEPTEE")
    assert stack.ledger.voucher_used(code)


def test_a_scanned_coupon_shows_its_value_and_one_key_sells_it(stack, counter):  # noqa: F811
    first, second = (tokens.make_voucher(tokens.random_payload32(8, os.urandom))
                     for _ in range(2))
    stack.ledger.create_coupon_series(stack.program, "books", YEAR,
                                      [(first, 30000), (second, 20000)])
    counter.send("scan " + first)
    # Asked of the server before any amount (code_req, command key): no DUKPT counter spent.
    screen = counter.wait_screen("CONFIRMER", timeout=10)
    assert screen.startswith("SCREEN CONFIRMER ?|Coupon " + first + "||      300,00 EUR|")
    assert not stack.ledger.voucher_used(first)
    counter.send("keys A")  # no amount typed
    assert "300,00 EUR" in counter.wait_screen("VENTE ACCEPTEE")
    assert stack.ledger.voucher_used(first)
    counter.send("keys B")
    counter.wait_screen("PRET")
    # Used now: said at once, before any amount screen.
    counter.send("scan " + first)
    screen = any_screen(counter, "VENTE REFUSEE", "MONTANT", "CONFIRMER")
    assert screen.startswith("SCREEN VENTE REFUSEE|") and "Coupon deja" in screen, screen
