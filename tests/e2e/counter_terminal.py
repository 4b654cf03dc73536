"""What the end-to-end tests at the counter share (tests/e2e/test_firmware_counter_*.py and the
attacks on a terminal): a fleet server with its reference ledger on the project's Mosquitto, a
provisioned terminal of "Librairie des Lilas" running the real firmware on the MicroPython binary,
MQTT peers beside it (a listener, the fleet operator sending signed remote commands) and the
clerk's gestures (a sale, a code typed by multi-tap)."""

import queue
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from fleet_stack import Stack
from test_firmware_sale import FirmwareProcess, provision

from protocol import auth, messages, tokens, topics

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
