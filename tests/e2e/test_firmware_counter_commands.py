"""End to end at the counter (the real firmware on the MicroPython binary, the project's
Mosquitto, the fleet server and the reference ledger): remote commands are answered signed and
once per id, forged ones refused, and a restart waits for the sale in progress."""

import json
import os
import uuid

import pytest
from counter_terminal import Operator, counter, stack  # noqa: F401 (fixtures)
from polling import eventually

from protocol import topics

pytestmark = [pytest.mark.broker, pytest.mark.micropython]


def test_commands_are_answered_signed_once_and_forgeries_refused(
        stack, mosquitto, counter):  # noqa: F811
    ops = Operator(mosquitto, stack, counter.dev)
    try:
        ops.command("diag-1", "diagnostics")
        _, diag = ops.reply("diag-1")
        assert diag["ok"] is True
        for check in ("network", "scanner", "display", "keypad", "clock", "memory", "journal"):
            assert "ok" in diag["res"][check], check
        assert diag["res"]["network"]["ok"] is True

        forged = json.loads(ops.command("x" * 8, "ping", key=os.urandom(32)).decode())
        _, refused = ops.reply("x" * 8)
        assert refused["ok"] is False and refused["code"] == "bad_mac"
        forged["id"] = "forged-restart"
        forged["name"] = "restart"  # a tampered restart: refused, the terminal stays up
        ops.publish(topics.topic(counter.dev, "command"), json.dumps(forged).encode())
        _, refused = ops.reply("forged-restart")
        assert refused["ok"] is False and refused["code"] == "bad_mac"

        ops.command("logs-1", "get_logs", {"lines": 50})
        raw_logs, logs = ops.reply("logs-1")
        # Something new in the log: an unsigned result is refused and logged.
        ops.publish(topics.topic(counter.dev, "debit_res"), b'{"t":"debit_res"}')

        def logged():
            cmd_id = "logs-" + uuid.uuid4().hex[:6]
            ops.command(cmd_id, "get_logs", {"lines": 50})
            return any("refused" in line for line in ops.reply(cmd_id)[1]["res"]["lines"])

        eventually(logged, what="the refused result in the log")
        ops.command("logs-1", "get_logs", {"lines": 50})  # the same id again
        replayed, _ = ops.reply("logs-1")
        assert replayed == raw_logs  # the same reply bytes: not run a second time
        assert not any("refused" in line for line in logs["res"]["lines"])
        assert counter.proc.poll() is None
    finally:
        ops.close()


def test_restart_waits_for_the_sale_in_progress_then_exits_3(
        stack, mosquitto, counter):  # noqa: F811
    card = stack.beneficiary({"books": (2000, None)})
    ops = Operator(mosquitto, stack, counter.dev)
    try:
        counter.send("scan " + card)
        counter.wait_screen("MONTANT")  # a sale is being typed: busy
        ops.command("boot-1", "restart")
        raw, reply = ops.reply("boot-1")
        assert reply["ok"] is True and reply["res"] == {"scheduled": True}
        ops.command("boot-1", "restart")  # delivered twice: same answer
        assert ops.reply("boot-1")[0] == raw
        counter.send("keys 5")
        counter.wait_screen("0,05 EUR")  # many loop turns later, still selling
        assert counter.proc.poll() is None
        counter.send("keys B")  # sale abandoned: now the restart happens
        assert counter.proc.wait(10) == 3
    finally:
        ops.close()
