"""End to end at the counter (the real firmware on the MicroPython binary, the project's
Mosquitto, the fleet server and the reference ledger): the broker restarts in the middle of a
sale whose request was lost; the terminal sends the same seq again and the card is debited
once, even for one more duplicate."""

import json

import pytest
from counter_terminal import Peer, counter, stack  # noqa: F401 (fixtures)

from protocol import messages, topics

pytestmark = [pytest.mark.broker, pytest.mark.micropython]


def test_a_broker_restart_mid_sale_retransmits_the_same_seq_and_debits_once(
        stack, mosquitto, counter):  # noqa: F811
    card = stack.beneficiary({"books": (2000, None)})
    dev = counter.dev
    req_topic, res_topic = topics.topic(dev, "debit_req"), topics.topic(dev, "debit_res")
    spy = Peer(mosquitto, [req_topic, res_topic])
    try:
        stack.fleet.bus.client.unsubscribe("t/+/debit/req")  # the request is lost...
        counter.send("scan " + card)
        counter.send("keys 650A")
        counter.wait_screen("CONFIRMER")
        counter.send("keys A")
        first = spy.next(req_topic)
        mosquitto.restart()  # ...and the broker goes down; the server subscribes again on return
        counter.wait_screen("VENTE ACCEPTEE", timeout=14)
        assert stack.ledger.balances(card)[0].balance_cents == 1350
        requests = [p for t, p in spy.drain() if t == req_topic]
        assert requests and all(p == first for p in requests)  # same seq, same bytes
        spy.publish(req_topic, first)  # one more duplicate: answered, never debited again
        again = messages.parse(spy.next(res_topic), "debit_res")
        assert again["seq"] == json.loads(first)["seq"] and again["st"] == "approved"
        assert stack.ledger.balances(card)[0].balance_cents == 1350
        assert len(stack.ledger.list_operations(partner_id=counter.partner)) == 1
    finally:
        spy.close()
