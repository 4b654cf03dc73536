"""The embedded broker as `fleet serve` starts it by default, attacked on real parts: the
server with its embedded amqtt broker, paho clients, and the firmware on the MicroPython
binary. Anonymous clients and made-up or wrong logins are refused; a registered terminal
logs in with the password derived from its command key and reaches its own topics only."""

import os
import queue
import threading
import time
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import pytest
from fleet_stack import MASTER, Stack
from test_firmware_sale import FirmwareProcess, provision

from fleet_server.adapters.mosquitto import free_port
from fleet_server.bootstrap import bootstrap, connect_broker
from fleet_server.service_layer import registry
from fleet_server.settings import Settings
from protocol import auth, tokens, topics


class EmbeddedStack(Stack):
    """The test stack on the embedded broker that `fleet serve` starts without --broker."""

    def start(self):
        self.port = free_port()
        self.fleet = bootstrap(Settings(db_url=self.db_url, master_secret=MASTER,
                                        embedded_mqtt_port=self.port, request_workers=2,
                                        settlement_enabled=False))
        connect_broker(self.fleet)
        assert self.fleet.bus.connected.wait(10)
        return self


@pytest.fixture
def stack(tmp_path):
    stack = EmbeddedStack(None, f"sqlite:///{tmp_path}/fleet.sqlite3").start()
    stack.setup_program()
    yield stack
    stack.stop()


def _client(stack, user=None, password=None, client_id=None):
    got, connack, done = queue.Queue(), {}, threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311,
                         client_id=client_id or f"probe-{os.urandom(3).hex()}")
    if user:
        client.username_pw_set(user, password)
    client.on_connect = lambda c, u, f, rc, p: (connack.setdefault("rc", rc), done.set())
    client.on_disconnect = lambda *a: done.set()
    client.on_message = lambda c, u, m: got.put((m.topic, bytes(m.payload)))
    client.connect("127.0.0.1", stack.port, keepalive=30)
    client.loop_start()
    done.wait(5)
    ok = "rc" in connack and not connack["rc"].is_failure
    return client, ok, got


def _registered(stack):
    secrets = registry.register_device(stack.fleet.uow(), stack.fleet.keys, "esp32-gm65",
                                       datetime.now(UTC))
    return secrets.device_id, auth.broker_password(bytes.fromhex(secrets.command_key_hex))


def test_anonymous_made_up_and_wrong_logins_are_refused(stack):
    assert stack.fleet.broker.host == "127.0.0.1"
    anonymous, ok, _ = _client(stack)
    anonymous.loop_stop()
    assert not ok, "an anonymous client got in"
    device_id, password = _registered(stack)
    made_up = tokens.make_device_id(tokens.random_payload32(8, os.urandom))
    for user, secret in ((None, None), (device_id, "wrong-password"),
                         (made_up, auth.broker_password(os.urandom(32))),
                         ("fleet-server", "guessed-password")):
        client, ok, _ = _client(stack, user, secret)
        client.loop_stop()
        assert not ok, user


def test_a_terminal_reaches_its_own_topics_only(stack):
    a_id, a_password = _registered(stack)
    b_id, b_password = _registered(stack)
    spy, ok, spied = _client(stack, a_id, a_password)
    victim, ok_b, _ = _client(stack, b_id, b_password)
    try:
        assert ok and ok_b
        spy.subscribe([("t/#", 1), (f"t/{b_id}/cmd", 1), (f"t/{a_id}/cmd", 1)])
        time.sleep(0.5)
        victim.publish(topics.topic(b_id, "heartbeat"), b"{}", qos=1).wait_for_publish(5)
        stack.fleet.bus.publish(topics.topic(b_id, "command"), b"for B", 1, False)
        stack.fleet.bus.publish(topics.topic(a_id, "command"), b"for A", 1, False)
        time.sleep(1)
        seen = []
        while not spied.empty():
            seen.append(spied.get())
        assert seen == [(topics.topic(a_id, "command"), b"for A")]
    finally:
        for c in (spy, victim):
            c.loop_stop()
            c.disconnect()


@pytest.mark.micropython
def test_the_firmware_sells_through_the_default_embedded_broker(stack, micropython_bin,
                                                                tmp_path):
    shop = stack.partner("Librairie du Quai", categories=("books",))
    card = stack.beneficiary({"books": (2000, None)})
    provision(stack, shop, tmp_path / "flash", stack.fleet.broker)
    terminal = FirmwareProcess(micropython_bin, tmp_path / "flash")
    try:
        terminal.wait_screen("Librairie du")  # logged in, online, configured
        terminal.send("scan " + card)
        terminal.send("keys 300A")
        terminal.wait_screen("CONFIRMER")
        terminal.send("keys A")
        terminal.wait_screen("VENTE ACCEPTEE")
        assert stack.ledger.balances(card)[0].balance_cents == 1700
    finally:
        terminal.stop()


def test_an_open_broker_off_loopback_is_warned_about_loudly(tmp_path, caplog):
    from fleet_server.bootstrap_broker import start_embedded

    fleet = bootstrap(Settings(db_url=f"sqlite:///{tmp_path}/f.sqlite3", master_secret=MASTER,
                               embedded_mqtt_port=free_port(), embedded_mqtt_host="0.0.0.0",
                               embedded_mqtt_open=True, settlement_enabled=False))
    try:
        with caplog.at_level("WARNING", logger="fleet.broker"):
            _url, user, password = start_embedded(fleet)
        assert user is None and password is None
        assert any("IS OPEN ON 0.0.0.0" in r.getMessage() and r.levelname == "ERROR"
                   for r in caplog.records)
    finally:
        fleet.close()
