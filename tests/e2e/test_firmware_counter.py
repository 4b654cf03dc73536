"""End to end at the counter: the real firmware on the MicroPython binary, the project's
Mosquitto, the fleet server and the reference ledger. Declines with their French texts, codes
typed on the keypad, cancelling the last sale, a broker restart mid-sale, remote commands and
hostile input."""

import json
import os
import queue
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from fleet_stack import YEAR, Stack
from polling import eventually
from test_firmware_sale import FirmwareProcess, provision

from protocol import auth, messages, tokens, topics

pytestmark = [pytest.mark.broker, pytest.mark.micropython]

MULTITAP = {"0": "0", "1": "1", "2": "ABC2", "3": "DEF3", "4": "GH4", "5": "JK5",
            "6": "MN6", "7": "PQRS7", "8": "TV8", "9": "WXYZ9"}


@pytest.fixture
def stack(mosquitto, tmp_path):
    stack = Stack(mosquitto.url, f"sqlite:///{tmp_path}/fleet.sqlite3").start()
    stack.setup_program()
    yield stack
    stack.stop()


@pytest.fixture
def counter(stack, mosquitto, micropython_bin, tmp_path):
    """A provisioned terminal of "Librairie des Lilas" (books), online and configured."""
    shop = stack.partner("Librairie des Lilas", categories=("books",))
    root = tmp_path / "flash"
    dev = provision(stack, shop, root, mosquitto)
    terminal = FirmwareProcess(micropython_bin, root)
    terminal.dev, terminal.root, terminal.partner = dev, root, shop
    try:
        terminal.wait_screen("Librairie des")
        yield terminal
    finally:
        terminal.stop()


class Peer:
    """A plain MQTT client beside the terminal: listens on some of its topics, publishes on
    others. Subscribes again on every (re)connection, so it survives a broker restart."""

    def __init__(self, broker, filters):
        self.filters = filters
        self.messages: queue.Queue = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id="peer-" + uuid.uuid4().hex[:8],
                                  protocol=mqtt.MQTTv311, clean_session=True)
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.subscribed = threading.Event()
        self.client.on_connect = lambda c, *a: c.subscribe([(f, 1) for f in self.filters])
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = lambda c, u, m: self.messages.put((m.topic, bytes(m.payload)))
        self.client.connect(broker.host, broker.port, keepalive=30)
        self.client.loop_start()
        assert self.subscribed.wait(10), "peer not subscribed"

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def next(self, topic: str, timeout: float = 10.0) -> bytes:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"nothing on {topic} after {timeout}s")
            try:
                got, payload = self.messages.get(timeout=left)
            except queue.Empty:
                continue
            if got == topic:
                return payload

    def drain(self) -> list:
        out = []
        while True:
            try:
                out.append(self.messages.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Operator(Peer):
    """The fleet operator's side of remote commands: sealed with the device's command key."""

    def __init__(self, broker, stack, dev):
        self.dev = dev
        self.key = stack.fleet.keys.command_key(dev, 1)
        super().__init__(broker, [topics.topic(dev, "command_res")])

    def command(self, cmd_id: str, name: str, args=None, key=None) -> bytes:
        now = int(time.time())
        fields = {"dev": self.dev, "ts": now, "id": cmd_id, "name": name, "exp": now + 120}
        if args:
            fields["args"] = args
        payload = auth.seal(messages.build("command", fields), key or self.key)
        self.publish(topics.topic(self.dev, "command"), payload)
        return payload

    def reply(self, cmd_id: str, timeout: float = 10.0) -> tuple[bytes, dict]:
        deadline = time.monotonic() + timeout
        while True:
            payload = self.next(topics.topic(self.dev, "command_res"),
                                max(0.1, deadline - time.monotonic()))
            message = messages.parse(payload, "command_res")
            if message["id"] == cmd_id:
                auth.verify(message, self.key)  # the device signs even its refusals
                return payload, message


def sell(terminal: FirmwareProcess, code: str, cents: int, expect: str) -> str:
    terminal.send("scan " + code)
    if tokens.parse_token(code)[0] != "card":
        # A coupon's value is asked first: refused at once, or shown pre-filled on the
        # confirm screen, where "B" goes to the amount and "C" clears it to type another.
        screen = any_screen(terminal, "VENTE REFUSEE", "CONFIRMER", "MONTANT")
        if "VENTE REFUSEE" in screen:
            assert expect in screen, screen
            return screen
        if "CONFIRMER" in screen:
            terminal.send("keys B")
            terminal.wait_screen("MONTANT")
        terminal.send("keys C")
    terminal.send(f"keys {cents}A")
    terminal.wait_screen("CONFIRMER")
    terminal.send("keys A")
    return terminal.wait_screen(expect)


def any_screen(terminal: FirmwareProcess, *texts: str, timeout: float = 20.0) -> str:
    """The next screen that shows one of `texts`."""
    deadline = time.monotonic() + timeout
    while True:
        line = terminal.wait_screen("", max(0.1, deadline - time.monotonic()))
        if any(text in line for text in texts):
            return line


def typed(code: str) -> str:
    """The keys that type a voucher code by multi-tap (adjacent characters on different keys)."""
    out = ""
    for ch in code:
        key = next(k for k, letters in MULTITAP.items() if ch in letters)
        out += key * (MULTITAP[key].index(ch) + 1)
    return out


def key_of(ch: str) -> str:
    return next(k for k, letters in MULTITAP.items() if ch in letters)


# ---- 1. every decline reason the counter can meet, in French ------------------------------------

def test_each_decline_is_shown_with_its_french_text(stack, counter):
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


# ---- 2. codes typed on the keypad ----------------------------------------------------------------

def test_a_card_code_typed_on_the_keypad_sells(stack, counter):
    card = stack.beneficiary({"books": (2000, None)})
    counter.send("keys D1" + card + "A")
    assert "Carte ****" + card[-4:] in counter.wait_screen("MONTANT")
    counter.send("keys 450A")
    counter.wait_screen("4,50 EUR")
    counter.send("keys A")
    counter.wait_screen("VENTE ACCEPTEE")
    assert stack.ledger.balances(card)[0].balance_cents == 1550


def test_a_voucher_code_typed_by_multitap_sells(stack, counter):
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


def test_a_scanned_coupon_shows_its_value_and_one_key_sells_it(stack, counter):
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


# ---- 3. cancelling the last sale -----------------------------------------------------------------

def test_the_last_sale_is_cancelled_from_the_menu(stack, counter):
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


# ---- 4. the broker goes away mid-sale --------------------------------------------------

def test_a_broker_restart_mid_sale_retransmits_the_same_seq_and_debits_once(
        stack, mosquitto, counter):
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


# ---- 5. remote commands -----------------------------------------------------------------

def test_commands_are_answered_signed_once_and_forgeries_refused(stack, mosquitto, counter):
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


def test_restart_waits_for_the_sale_in_progress_then_exits_3(stack, mosquitto, counter):
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


# ---- 6. hostile or broken input -----------------------------------------------------------------

def test_scanner_noise_is_refused_and_the_terminal_keeps_selling(stack, counter):
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


def test_an_unsigned_result_is_ignored_and_the_real_one_shown(stack, mosquitto, counter):
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

