"""End to end at the counter (the real firmware on the MicroPython binary, the project's
Mosquitto, the fleet server and the reference ledger): the last sale is cancelled from the menu,
the money goes back, and nothing is left to cancel."""

import pytest
from counter_terminal import counter, sell, stack  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.broker, pytest.mark.micropython]


def test_the_last_sale_is_cancelled_from_the_menu(stack, counter):  # noqa: F811
    card = stack.beneficiary({"books": (2000, None)})
    sell(counter, card, 800, "VENTE ACCEPTEE")
    assert stack.ledger.balances(card)[0].balance_cents == 1200
    counter.send("keys D3")  # D on the result screen goes on to the menu
    assert "|Carte ****" + card[-4:] + "|" in counter.wait_screen("ANNULER ?")  # which sale
    counter.send("keys A")
    assert "8,00 EUR" in counter.wait_screen("VENTE ANNULEE")
    assert stack.ledger.balances(card)[0].balance_cents == 2000
    counter.send("keys D")
    assert "3 Rien a annuler" in counter.wait_screen("MENU")  # nothing left to cancel
