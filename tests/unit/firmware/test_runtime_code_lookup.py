"""The real Runtime (CPython, unix_sim drivers) asks a scanned coupon's value: a code_req MACed
with the command key, no DUKPT counter spent; only the answer bound to that request is taken."""

import time

from terminal.boards import build_drivers, load
from terminal.journal import Journal
from terminal.keys import KeyVault, provision
from terminal.ringlog import RingLog
from terminal.runtime import Runtime
from test_runtime_unset_clock import WiredBroker

from protocol import auth, messages, tokens, topics

DEV = tokens.make_device_id("ABCDEFGH")
COMMAND_KEY = bytes.fromhex("22" * 32)
VOUCHER = tokens.make_voucher("2DZHB6PQ")


class Terminal:
    def __init__(self, root):
        provision(root, DEV, "0000A00100000001", "11" * 16, COMMAND_KEY.hex())
        self.vault = KeyVault(root)
        self.drivers = build_drivers(load("unix_sim"), {})
        self.shown = []
        self.drivers["display"] = type("Screen", (), {
            "show": lambda _self, lines: self.shown.append(lines)})()
        self.broker, self.ticks = WiredBroker(), [0]
        config = {"partner": "Auto-ecole", "cats": [], "amax": 50000, "hb": 60}
        self.runtime = Runtime(self.drivers, self.vault, Journal(root), RingLog(root),
                               self.broker, lambda: self.ticks[0], lambda a, b: a - b,
                               lambda: int(time.time()), config=config)
        self.runtime.start()
        self.broker.on_connect()

    def steps(self, n=5):
        for _ in range(n):
            self.ticks[0] += 100
            self.runtime.step()

    def sent(self, leaf):
        return [p for t, p in self.broker.published if t == topics.ROOT + "/" + DEV + "/" + leaf]

    def answer(self, request, key=COMMAND_KEY, **changes):
        fields = {"dev": DEV, "ts": int(time.time()), "id": request["id"],
                  "tok": request["tok"], "amt": 30000, "rq": request["mac"]}
        fields.update(changes)
        payload = auth.seal(messages.build("code_res", fields), key)
        self.broker.on_message(topics.topic(DEV, "code_res"), payload)
        self.steps(1)


def test_a_scan_asks_the_value_with_the_command_key_and_takes_only_its_own_answer(tmp_path):
    t = Terminal(str(tmp_path))
    counter_before = t.vault.counter_left()
    t.drivers["sim_uart"].scan(VOUCHER)
    t.steps()
    [payload] = t.sent("code/req")
    request = messages.parse(payload, "code_req")
    auth.verify(request, COMMAND_KEY)
    assert request["tok"] == VOUCHER and len(request["id"]) == 16
    assert t.vault.counter_left() == counter_before  # a lookup spends no DUKPT counter
    assert t.runtime.app.state == "lookup"

    t.answer(request, rq="0" * 64)  # an answer the server gave an earlier scan
    t.answer(request, key=bytes(32))  # forged without the command key
    assert t.runtime.app.state == "lookup" and t.runtime.last_error == "bad_mac"
    t.answer(request)
    assert t.runtime.app.state == "confirm"
    assert t.shown[-1][:4] == ["CONFIRMER ?", "Coupon " + VOUCHER, "", "      300,00 EUR"]
    t.answer(request, amt=100)  # once taken, the same answer again changes nothing
    assert "      300,00 EUR" in t.shown[-1]

    t.drivers["keypad"].press("A")
    t.steps()
    [debit] = t.sent("debit/req")
    assert messages.parse(debit, "debit_req")["amt"] == 30000  # no amount typed


def test_a_second_scan_gets_a_new_nonce(tmp_path):
    t = Terminal(str(tmp_path))
    t.drivers["sim_uart"].scan(VOUCHER)
    t.steps()
    t.drivers["keypad"].press("B")
    t.steps()
    t.drivers["sim_uart"].scan(VOUCHER)
    t.steps()
    first, second = (messages.parse(p, "code_req") for p in t.sent("code/req"))
    assert first["id"] != second["id"] and first["mac"] != second["mac"]
    t.answer(first)  # the first scan's answer, late: not this scan's
    assert t.runtime.app.state == "lookup"
