"""A running fleet server on a real broker and database, and terminals that talk to it over MQTT.

Used by the integration and end-to-end tests (imported as a plain module: pytest puts the
tests folder on sys.path because tests/conftest.py lives there)."""

import os
import queue
import threading
import time
from datetime import UTC, datetime

import paho.mqtt.client as mqtt

from fleet_server.bootstrap import bootstrap, connect_broker
from fleet_server.domain.partners import Partner
from fleet_server.reference_ledger import rules
from fleet_server.reference_ledger.reference import PotView
from fleet_server.service_layer import registry
from fleet_server.settings import Settings
from protocol import tokens, topics
from simulator.wire_terminal import WireTerminal

YEAR = 2026
MASTER = "integration-test-master-secret-0123456789"


class Stack:
    """fleet server + reference ledger + demo-like data, on the given broker and database."""

    def __init__(self, broker_url: str, db_url: str, workers: int = 4, **settings):
        self.broker_url, self.db_url, self.workers = broker_url, db_url, workers
        self.settings = settings  # more Settings fields (mqtt_shared, lease_ttl_s...)
        self.fleet = None

    def start(self) -> "Stack":
        settings = Settings(db_url=self.db_url, broker_url=self.broker_url, master_secret=MASTER,
                            request_workers=self.workers, settlement_enabled=False,
                            mqtt_client_id=f"fleet-test-{id(self)}", **self.settings)
        self.fleet = bootstrap(settings)
        connect_broker(self.fleet)
        assert self.fleet.bus.connected.wait(10), "server did not reach the broker"
        return self

    def stop(self) -> None:
        if self.fleet:
            self.fleet.close()
            self.fleet = None

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def ledger(self):
        return self.fleet.ledger

    def partner(self, name: str, categories=("books",), can_pay=True, agreed=True) -> str:
        partner_id = self.ledger.create_partner(name, can_take_payments=can_pay)
        registry.add_partner(self.fleet.uow(), Partner(partner_id, name, can_take_payments=can_pay))
        for category in categories:
            agreement = self.ledger.create_agreement(partner_id, self.program, category, YEAR)
            if agreed:
                for status in (rules.ACCEPTED, rules.SIGNED):
                    self.ledger.set_agreement_status(agreement, status)
        return partner_id

    def setup_program(self) -> None:
        self.program = self.ledger.create_program("Pass Culture Région", YEAR,
                                                  max_amount_cents=30000)

    def beneficiary(self, pots: dict) -> str:
        card = tokens.make_card("".join(str(b % 10) for b in os.urandom(11)))
        self.ledger.create_beneficiary(self.program, card, [
            PotView(category, balance, cap) for category, (balance, cap) in pots.items()])
        return card

    def voucher(self, category="books", value=1000) -> str:
        number = tokens.make_voucher(tokens.random_payload32(8, os.urandom))
        self.ledger.create_voucher(self.program, number, category, value, YEAR)
        return number

    def terminal(self, partner_id: str, state: str = "active") -> "MqttTerminal":
        now = datetime.now(UTC)
        secrets = registry.register_device(self.fleet.uow(), self.fleet.keys, "esp32-gm65", now)
        registry.assign_device(self.fleet.uow(), secrets.device_id, partner_id)
        if state == "active":
            registry.change_state(self.fleet.uow(), secrets.device_id, "activate")
        wire = WireTerminal(secrets.device_id, secrets.initial_key_id,
                            bytes.fromhex(secrets.initial_key_hex))
        return MqttTerminal(wire, self.broker_url)


class MqttTerminal:
    """A WireTerminal on its own persistent MQTT session, as a board would connect."""

    def __init__(self, wire: WireTerminal, broker_url: str, password: str | None = None):
        from fleet_server.adapters.mqtt_bus import parse_broker_url

        self.wire = wire
        self.results: queue.Queue = queue.Queue()
        host, port = parse_broker_url(broker_url)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=wire.device_id,
                                  protocol=mqtt.MQTTv311, clean_session=False)
        if password is not None:  # the embedded broker's login (protocol.auth.broker_password)
            self.client.username_pw_set(wire.device_id, password)
        self.client.on_message = lambda c, u, m: self.results.put((m.topic, m.payload))
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        self.client.subscribe([(t, 1) for t in topics.device_filters(wire.device_id)])
        assert subscribed.wait(10)

    def send(self, pending) -> None:
        self.client.publish(pending.topic, pending.payload, qos=1).wait_for_publish(10)

    def await_result(self, pending, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no result for seq {pending.seq}")
            topic, payload = self.results.get(timeout=left)
            if topic != pending.result_topic:
                continue
            try:
                return WireTerminal.read_result(pending, payload)
            except ValueError:
                continue  # an older result arriving late

    def sale(self, token: str, amount: int, category: str | None = None) -> tuple:
        pending = self.wire.debit(token, amount, category)
        self.send(pending)
        return pending, self.await_result(pending)

    def cancel(self, original_seq: int) -> dict:
        pending = self.wire.void(original_seq)
        self.send(pending)
        return self.await_result(pending)

    def go_offline(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def come_back(self) -> None:
        """Reconnect with the same client id: the persistent session delivers what was queued."""
        self.client.reconnect()
        self.client.loop_start()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
