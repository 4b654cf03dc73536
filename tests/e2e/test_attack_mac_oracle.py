"""The MAC-oracle attack on real parts: the firmware on the MicroPython binary, the project's
Mosquitto, the fleet server and the reference ledger.

Someone who can publish on the broker forges a debit request for the terminal's next counter
and keeps what the server answers. When the clerk then validates the real sale with that
counter, the attacker holds the server's answer back and injects the kept one. Before results
were bound to their request, the server answered the forgery with an error MACed under that
counter's result key; the terminal took it for the answer to the real sale and showed a
refusal while the server approved and debited.
"""

import json
import os
import time

import pytest
from counter_terminal import Peer, counter, stack  # noqa: F401 (fixtures)

from protocol import auth, messages, tokens, topics

pytestmark = [pytest.mark.broker, pytest.mark.micropython]


def _next_counter(root) -> tuple[int, str]:
    state = json.loads((root / "dukpt.json").read_text())
    return state["counter"], state["ikid"]


def test_a_result_kept_from_a_forged_request_cannot_answer_the_real_sale(
        stack, mosquitto, counter):  # noqa: F811
    card = stack.beneficiary({"books": (2000, None)})
    dev = counter.dev
    attacker = Peer(mosquitto, [topics.topic(dev, "debit_res"), topics.topic(dev, "debit_req")])
    try:
        seq, kid = _next_counter(counter.root)
        forged = messages.build("debit_req", {"dev": dev, "kid": kid, "seq": seq,
                                              "ts": int(time.time()), "amt": 1,
                                              "tok": tokens.make_voucher("2DZHB6PQ")})
        forged["mac"] = os.urandom(16).hex()
        attacker.publish(topics.topic(dev, "debit_req"), messages.encode(forged))
        try:
            kept = attacker.next(topics.topic(dev, "debit_res"), timeout=3)
        except AssertionError:
            kept = None
        if kept is None:
            # Nothing to keep. The best an attacker could hope for: a result MACed with the
            # right key that answers the forgery (what the server used to send).
            result_key = stack.fleet.keys.result_mac_key(kid.upper(), seq)
            decoy = messages.build("debit_res", {"dev": dev, "seq": seq, "ts": int(time.time()),
                                                 "st": "error", "code": "bad_mac", "amt": 0,
                                                 "rq": forged["mac"]})
            kept = auth.seal(decoy, result_key)
        attacker.drain()

        stack.fleet.bus.client.unsubscribe("t/+/debit/req")  # the attacker answers first
        counter.send("scan " + card)
        counter.send("keys 400A")
        counter.wait_screen("CONFIRMER")
        counter.send("keys A")
        attacker.next(topics.topic(dev, "debit_req"))  # the real sale, with counter `seq`
        attacker.publish(topics.topic(dev, "debit_res"), kept)
        time.sleep(1.0)
        stack.fleet.bus.client.subscribe("t/+/debit/req", qos=1)
        counter.wait_screen("VENTE ACCEPTEE", timeout=15)  # the 5 s retransmission
        assert not any("REFUSEE" in line or "ERREUR" in line for line in counter.seen)
        assert stack.ledger.balances(card)[0].balance_cents == 1600
        assert not (counter.root / "journal.json").read_text().strip("{} \n")
    finally:
        attacker.close()
        stack.fleet.bus.client.subscribe("t/+/debit/req", qos=1)


def test_a_forged_request_gets_no_macd_answer(stack, mosquitto, counter):  # noqa: F811
    dev = counter.dev
    listener = Peer(mosquitto, [topics.topic(dev, "debit_res"), topics.topic(dev, "void_res")])
    try:
        seq, kid = _next_counter(counter.root)
        now = int(time.time())
        for mtype, fields in (("debit_req", {"amt": 1, "tok": tokens.make_voucher("2DZHB6PQ")}),
                              ("void_req", {"oseq": 1})):
            forged = messages.build(mtype, dict(fields, dev=dev, kid=kid, seq=seq, ts=now))
            forged["mac"] = "00" * 16
            listener.publish(topics.topic(dev, mtype), messages.encode(forged))
            # malformed, naming another device, unknown key id: no answer either
            listener.publish(topics.topic(dev, mtype),
                             messages.encode(forged).replace(b'"v":1}', b'"v":1,"x":1}'))
        other = dict(forged, kid="00" * 8)
        listener.publish(topics.topic(dev, "void_req"), messages.encode(other))
        time.sleep(3)
        assert listener.drain() == []
    finally:
        listener.close()
