"""End to end at the counter (the real firmware on the MicroPython binary, the project's
Mosquitto, the fleet server and the reference ledger): every decline reason the counter can meet
is shown with its French text, and a wrong coupon amount comes back with the coupon's value to
confirm."""

import os
from datetime import UTC, datetime, timedelta

import pytest
from counter_terminal import counter, sell, stack  # noqa: F401 (fixtures)
from fleet_stack import YEAR

from protocol import tokens

pytestmark = [pytest.mark.broker, pytest.mark.micropython]


def test_each_decline_is_shown_with_its_french_text(stack, counter):  # noqa: F811
    ledger, program = stack.ledger, stack.program
    low = stack.beneficiary({"books": (300, None)})
    capped = stack.beneficiary({"books": (5000, 600)})
    music_only = stack.beneficiary({"music": (5000, None)})
    blocked = stack.beneficiary({"books": (5000, None)})
    ledger.set_beneficiary_blocked(blocked, True)
    stranger = tokens.make_card("".join(str(b % 10) for b in os.urandom(11)))
    voucher = stack.voucher("books", 1000)
    wrong_value = stack.voucher("books", 1000)
    music_voucher = stack.voucher("music", 1000)
    expired = ledger.create_voucher(program, tokens.make_voucher(tokens.random_payload32(
        8, os.urandom)), "books", 1000, YEAR, expires_at=datetime.now(UTC) - timedelta(days=1))
    first, second = (tokens.make_voucher(tokens.random_payload32(8, os.urandom))
                     for _ in range(2))
    ledger.create_coupon_series(program, "books", YEAR, [(first, 500), (second, 500)])

    sell(counter, voucher, 1000, "VENTE ACCEPTEE")
    cases = [  # the French texts of protocol.errors, folded to ASCII and wrapped at 16
        (low, 500, "Solde insuffisant"),
        (capped, 900, "Plafond par achat depasse Max 6,00 EUR"),  # the cap, from the ledger
        (music_only, 500, "Categorie inconnue"),
        (blocked, 500, "Carte bloquee"),
        (stranger, 500, "Code inconnu"),
        (voucher, 1000, "Coupon deja utilise"),
        (expired, 1000, "Coupon perime"),
        (second, 500, "Coupon precedent d'abord"),
        (music_voucher, 1000, "Hors de votre convention"),
    ]
    for code, cents, text in cases:
        screen = sell(counter, code, cents, "VENTE REFUSEE")
        assert screen.startswith("SCREEN VENTE REFUSEE|"), (code, screen)
        assert text in " ".join(screen.replace("|", " ").split()), (text, screen)
    assert ledger.balances(low)[0].balance_cents == 300
    assert ledger.balances(capped)[0].balance_cents == 5000
    assert not ledger.voucher_used(second)
    # A wrong coupon amount is not a dead end: its value comes back with the refusal and is
    # offered on the confirm screen, so the clerk validates it without typing it.
    screen = sell(counter, wrong_value, 500, "coupon attendu")
    assert screen.startswith("SCREEN CONFIRMER ?|Coupon " + wrong_value), screen
    assert "10,00 EUR|Montant du|coupon attendu" in screen, screen
    assert not ledger.voucher_used(wrong_value)
    counter.send("keys A")
    counter.wait_screen("VENTE ACCEPTEE")
    assert ledger.voucher_used(wrong_value)
