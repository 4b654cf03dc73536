"""End to end: a retired terminal cannot debit. The real firmware on the MicroPython binary sells,
the operator retires it through the API, its retained messages disappear from Mosquitto, its
next sale is refused with "device_retired" and the ledger never sees it; the broker-side
revocation (ACL deny, CRL) is written by the broker-security adapter."""

import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from fleet_stack import MASTER, Stack
from test_firmware_sale import FirmwareProcess, provision

from fleet_server.adapters.api_tokens import issue_token
from fleet_server.adapters.db import Base
from fleet_server.adapters.mqtt_bus import parse_broker_url
from fleet_server.bootstrap import bootstrap, connect_broker
from fleet_server.entrypoints.app import create_app
from fleet_server.settings import Settings

pytestmark = [pytest.mark.broker, pytest.mark.micropython]


class SecuredStack(Stack):
    """The test stack with the broker-security folder configured (as `fleet broker-config`
    writes it), so that retirement also writes the broker's deny rules."""

    def __init__(self, broker_url, db_url, security_dir):
        super().__init__(broker_url, db_url)
        self.security_dir = security_dir

    def start(self):
        settings = Settings(db_url=self.db_url, broker_url=self.broker_url, master_secret=MASTER,
                            request_workers=2, settlement_enabled=False,
                            mqtt_client_id=f"fleet-test-{id(self)}",
                            broker_security_dir=str(self.security_dir))
        self.fleet = bootstrap(settings)
        connect_broker(self.fleet)
        assert self.fleet.bus.connected.wait(10)
        return self


@pytest.fixture
def stack(mosquitto, tmp_path):
    stack = SecuredStack(mosquitto.url, f"sqlite:///{tmp_path}/fleet.sqlite3",
                         tmp_path).start()
    stack.setup_program()
    Base.metadata.create_all(stack.fleet.engine)  # api_tokens
    yield stack
    stack.stop()


def retained(broker_url: str, topic: str, wait: float = 2.0) -> list[bytes]:
    """What a fresh subscriber gets from the broker's retained store on `topic`."""
    got, subscribed = [], threading.Event()
    host, port = parse_broker_url(broker_url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.on_message = lambda c, u, m: got.append(bytes(m.payload)) if m.retain else None
    client.on_subscribe = lambda *a: subscribed.set()
    client.connect(host, port, keepalive=10)
    client.loop_start()
    client.subscribe(topic, qos=1)
    assert subscribed.wait(10)
    time.sleep(wait)
    client.disconnect()
    client.loop_stop()
    return got


def test_a_retired_terminal_cannot_debit(stack, mosquitto, micropython_bin, tmp_path):
    bookshop = stack.partner("Librairie des Remparts", categories=("books",))
    card = stack.beneficiary({"books": (5000, None)})
    root = tmp_path / "flash"
    device_id = provision(stack, bookshop, root, mosquitto)
    terminal = FirmwareProcess(micropython_bin, root)
    try:
        terminal.wait_screen("Librairie des")
        terminal.send("scan " + card)
        terminal.send("keys 500A")
        terminal.wait_screen("CONFIRMER")
        terminal.send("keys A")
        terminal.wait_screen("VENTE ACCEPTEE")
        assert retained(mosquitto.url, f"t/{device_id}/config", wait=1.0)
        assert retained(mosquitto.url, f"t/{device_id}/status", wait=0.5)

        http = TestClient(create_app(stack.fleet))
        token = issue_token(stack.fleet.session_factory, "operator", None, "op")
        r = http.post(f"/api/v1/devices/{device_id}/retire",
                      headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json()["state"] == "retired", r.text

        # the broker forgets what it kept for the device; the broker's rules deny it
        assert retained(mosquitto.url, f"t/{device_id}/config") == []
        assert retained(mosquitto.url, f"t/{device_id}/status", wait=0.5) == []
        assert (Path(tmp_path) / "revoked-devices.txt").read_text().split() == [device_id]
        assert f"user {device_id}\ntopic deny t/#" in (Path(tmp_path) / "acl").read_text()

        # the terminal (still connected to this dev broker, which has no ACL) tries to sell
        terminal.send("keys B")
        terminal.send("scan " + card)
        terminal.send("keys 700A")
        terminal.wait_screen("CONFIRMER")
        terminal.send("keys A")
        terminal.wait_screen("Terminal retire")
        assert stack.ledger.balances(card)[0].balance_cents == 4500  # only the first sale
        with stack.fleet.uow() as uow:
            assert uow.devices.get(device_id).state == "retired"
    finally:
        terminal.stop()
