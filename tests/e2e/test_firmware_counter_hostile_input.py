"""End to end at the counter (the real firmware on the MicroPython binary, the project's
Mosquitto, the fleet server and the reference ledger): hostile or broken input. Scanner noise is
refused and the terminal keeps selling; an unsigned result is ignored and the real one shown."""

import json
import os
import time
import uuid

import pytest
from counter_terminal import Operator, counter, stack  # noqa: F401 (fixtures)
from polling import eventually

from protocol import auth, messages, topics

pytestmark = [pytest.mark.broker, pytest.mark.micropython]


def test_scanner_noise_is_refused_and_the_terminal_keeps_selling(stack, counter):  # noqa: F811
    card = stack.beneficiary({"books": (2000, None)})
    wrong_check = card[:-1] + str((int(card[-1]) + 1) % 10)
    counter.send("scan " + wrong_check)
    counter.wait_screen("Code illisible")
    counter.send("scan \x01\x02\x03\x04\x05\x06\x07\x08\x0e")  # 9 bytes of binary noise
    counter.wait_screen("Code illisible")
    counter.send("scan \u00e9\u00e8\u00e0\u00ff\u00fe\u00fd\u00fc\u00fb\u00fa")
    counter.wait_screen("Code inconnu")  # UTF-8 bytes: 18 unreadable characters
    counter.send("scan " + "7" * 2000)  # longer than the scanner line: dropped whole
    counter.send("scan " + "Z" * 200)  # longer than any code
    counter.wait_screen("Message trop|long")
    counter.send("scan https://pass.example/c/" + card + "?x=1")
    counter.wait_screen("MONTANT")
    counter.send("keys 300A")
    counter.wait_screen("CONFIRMER")
    counter.send("keys A")
    counter.wait_screen("VENTE ACCEPTEE")
    assert counter.proc.poll() is None
    assert stack.ledger.balances(card)[0].balance_cents == 1700


def test_an_unsigned_result_is_ignored_and_the_real_one_shown(
        stack, mosquitto, counter):  # noqa: F811
    card = stack.beneficiary({"books": (2000, None)})
    dev = counter.dev
    ops = Operator(mosquitto, stack, dev)
    try:
        stack.fleet.bus.client.unsubscribe("t/+/debit/req")  # the answer will be late
        counter.send("scan " + card)
        counter.send("keys 400A")
        counter.wait_screen("CONFIRMER")
        counter.send("keys A")
        journal = counter.root / "journal.json"
        seq = eventually(lambda: journal.exists() and json.loads(journal.read_text())["seq"],
                         what="the journal entry")
        fake = messages.build("debit_res", {"dev": dev, "seq": seq, "ts": int(time.time()),
                                            "st": "declined", "code": "insufficient_balance",
                                            "amt": 400, "rq": "00" * 16})
        ops.publish(topics.topic(dev, "debit_res"), auth.seal(fake, os.urandom(16)))

        def refused():
            cmd_id = "logs-" + uuid.uuid4().hex[:6]
            ops.command(cmd_id, "get_logs", {"lines": 50})
            return any("bad_mac" in line for line in ops.reply(cmd_id)[1]["res"]["lines"])

        eventually(refused, what="the forged result refused")
        stack.fleet.bus.client.subscribe("t/+/debit/req", qos=1)
        counter.wait_screen("VENTE ACCEPTEE", timeout=12)  # the 5 s retransmission
        assert not any("REFUSEE" in line for line in counter.seen)
        assert stack.ledger.balances(card)[0].balance_cents == 1600
    finally:
        ops.close()
