"""End to end: key rotation keeps a terminal selling. The real firmware on the MicroPython binary
sells under its first key, receives a "rekey" command through Mosquitto from the fleet server,
installs the new key on its flash and sells under it; within the grace period the old key only
retransmits what it signed before the switch, and a fresh request under it is refused
(docs/device-lifecycle.md)."""

import json
import queue
import threading
import time
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import pytest
from fleet_stack import Stack
from test_firmware_sale import FirmwareProcess, provision

from fleet_server.adapters.mqtt_bus import parse_broker_url
from fleet_server.service_layer import rekey
from protocol import auth, dukpt, messages
from simulator.wire_terminal import WireTerminal

pytestmark = [pytest.mark.broker, pytest.mark.micropython]


def skip_to(wire: WireTerminal, counter: int) -> None:
    """Move the wire terminal's DUKPT counter on to `counter` (a request at a fresh counter)."""
    state = dukpt.DeviceDukpt.from_state(wire.dukpt_state())
    while state.next_counter < counter:
        state.next_transaction()
    state.clear_transaction()
    wire.restore(state.to_state())


class Recorder:
    """A plain MQTT client on the device's tree: what the terminal sends and gets, and a way to
    send bytes again as a terminal retransmitting them would."""

    def __init__(self, broker_url: str, device_id: str):
        self.messages: queue.Queue = queue.Queue()
        self.seen: list[tuple[str, bytes]] = []
        host, port = parse_broker_url(broker_url)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"recorder-{device_id}", protocol=mqtt.MQTTv311)
        self.client.on_message = lambda c, u, m: self.messages.put((m.topic, bytes(m.payload)))
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        self.client.subscribe(f"t/{device_id}/#", qos=1)
        assert subscribed.wait(10)

    def wait_for(self, topic_end: str, timeout: float = 20.0, where=lambda p: True) -> bytes:
        deadline = time.monotonic() + timeout
        for topic, payload in self.seen:
            if topic.endswith(topic_end) and where(payload):
                return payload
        while time.monotonic() < deadline:
            try:
                topic, payload = self.messages.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append((topic, payload))
            if topic.endswith(topic_end) and where(payload):
                return payload
        raise AssertionError(f"nothing on .../{topic_end}")

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def stack(mosquitto, tmp_path):
    stack = Stack(mosquitto.url, f"sqlite:///{tmp_path}/fleet.sqlite3").start()
    stack.setup_program()
    yield stack
    stack.stop()


def kid_of(payload: bytes) -> str:
    return json.loads(payload)["kid"].upper()


def sell(terminal, card, cents):
    terminal.send("keys B")
    terminal.send("scan " + card)
    terminal.send(f"keys {cents}A")
    terminal.wait_screen("CONFIRMER")
    terminal.send("keys A")
    terminal.wait_screen("VENTE ACCEPTEE")


def test_a_rekeyed_terminal_keeps_selling_and_the_old_key_only_retransmits(
        stack, mosquitto, micropython_bin, tmp_path):
    bookshop = stack.partner("Librairie des Quais", categories=("books",))
    card = stack.beneficiary({"books": (10000, None)})
    root = tmp_path / "flash"
    device_id = provision(stack, bookshop, root, mosquitto)
    with stack.fleet.uow() as uow:
        old_kid = uow.devices.get(device_id).initial_key_id
    recorder = Recorder(mosquitto.url, device_id)
    terminal = FirmwareProcess(micropython_bin, root)
    try:
        terminal.wait_screen("Librairie des")
        sell(terminal, card, 500)
        first_request = recorder.wait_for("debit/req")
        first_result = recorder.wait_for("debit/res")
        assert kid_of(first_request) == old_kid

        # the operator re-keys the terminal: the command goes out through the server's bus
        device, command = rekey.start_rekey(stack.fleet.uow(), stack.fleet.keys, device_id,
                                            datetime.now(UTC))
        new_kid = device.pending_key_id
        assert stack.fleet.publish([command])
        reply = messages.parse(recorder.wait_for("cmd/res"), "command_res")
        assert reply["ok"] and reply["res"]["kid"] == new_kid.lower(), reply
        on_flash = json.loads((root / "device.json").read_text())
        assert on_flash["initial_key_id"] == new_kid.lower() and "initial_key" not in on_flash

        # the answer came under the command key delivered with the Initial Key: the server
        # switched at once, and the key before it no longer commands the terminal
        auth.verify(reply, stack.fleet.keys.command_key(device_id, 2))

        def switched():  # the server handles that answer beside this test's own subscriber
            with stack.fleet.uow() as uow:
                return uow.devices.get(device_id).key_version == 2

        deadline = time.monotonic() + 5
        while not switched():
            assert time.monotonic() < deadline, "the server did not switch to key version 2"
            time.sleep(0.05)
        ts = int(time.time())
        stale = auth.seal(messages.build("command", {
            "dev": device_id, "ts": ts, "id": "old-key-restart", "name": "restart",
            "exp": ts + 600}), stack.fleet.keys.command_key(device_id, 1))
        recorder.publish(f"t/{device_id}/cmd", stale)
        refused = messages.parse(recorder.wait_for(
            "cmd/res", where=lambda p: json.loads(p)["id"] == "old-key-restart"), "command_res")
        assert (refused["ok"], refused["code"]) == (False, "bad_mac")

        # the next sale is signed with the new key, its counter started again
        sell(terminal, card, 700)
        second = recorder.wait_for("debit/req", where=lambda p: kid_of(p) == new_kid)
        assert json.loads(second)["seq"] == 1
        with stack.fleet.uow() as uow:
            device = uow.devices.get(device_id)
            assert (device.initial_key_id, device.previous_key_id) == (new_kid, old_kid)
            assert device.pending_key_id is None and device.previous_key_until is not None
        assert stack.ledger.balances(card)[0].balance_cents == 10000 - 500 - 700

        # the first sale's bytes again (old key, within the grace period): the same answer,
        # no second debit
        recorder.publish(f"t/{device_id}/debit/req", first_request)
        again = recorder.wait_for("debit/res", where=lambda p: p == first_result
                                  and sum(1 for t, q in recorder.seen if q == p) >= 2)
        assert again == first_result

        # the attack: whoever holds the replaced key signs a fresh debit at a new counter,
        # within the grace period. Refused with key_replaced, the ledger never asked.
        wire = WireTerminal(device_id, old_kid, stack.fleet.keys.initial_key(old_kid))
        skip_to(wire, 2)
        voucher = stack.voucher("books", 300)
        fresh = wire.debit(voucher, 300, "books")
        recorder.publish(fresh.topic, fresh.payload)
        result = WireTerminal.read_result(fresh, recorder.wait_for(
            "debit/res", where=lambda p: json.loads(p)["rq"] == auth.request_mac(fresh.payload)))
        assert (result["st"], result["code"]) == ("error", "key_replaced")
        assert not stack.ledger.voucher_used(voucher)
        assert stack.ledger.balances(card)[0].balance_cents == 10000 - 500 - 700
        with stack.fleet.uow() as uow:
            assert uow.devices.get(device_id).previous_highest_seq == 1  # its highest at switch
    finally:
        terminal.stop()
        recorder.stop()


def test_the_rekey_waits_for_an_offline_terminal_and_reaches_it_at_connect(
        stack, mosquitto, micropython_bin, tmp_path):
    bookshop = stack.partner("Librairie du Marché", categories=("books",))
    card = stack.beneficiary({"books": (5000, None)})
    root = tmp_path / "flash"
    device_id = provision(stack, bookshop, root, mosquitto)
    # re-keyed before it ever connects: no broker delivery now (not published), the server
    # sends it when the terminal says it is online
    device, _command = rekey.start_rekey(stack.fleet.uow(), stack.fleet.keys, device_id,
                                         datetime.now(UTC))
    terminal = FirmwareProcess(micropython_bin, root)
    try:
        terminal.wait_screen("Librairie du")
        deadline = time.monotonic() + 20
        while json.loads((root / "device.json").read_text())["initial_key_id"] \
                != device.pending_key_id.lower():
            assert time.monotonic() < deadline, "the re-key never reached the terminal"
            time.sleep(0.1)
        sell(terminal, card, 400)
        with stack.fleet.uow() as uow:
            assert uow.devices.get(device_id).initial_key_id == device.pending_key_id
    finally:
        terminal.stop()
