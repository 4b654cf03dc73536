"""Suspending or retiring a terminal from any front end (the fleet CLI, the REST API, the web
console's form) shuts it out of the broker at once, on Mosquitto configured by `fleet
broker-config`: a connected device stops receiving its commands and its session is ended, not
at its next connection. Resuming lets it in again."""

import os
import re
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from secure_broker import SERVER_PASSWORD, device_client, server_client

from fleet_server.adapters.api_tokens import issue_token
from fleet_server.adapters.db import Base
from fleet_server.bootstrap import bootstrap
from fleet_server.domain.partners import Partner
from fleet_server.entrypoints.app import create_app
from fleet_server.service_layer import registry
from fleet_server.settings import Settings

pytestmark = pytest.mark.broker
MASTER = "revocation-front-ends-master-secret-0123"
PASSWORD = "Revocation-Front-Ends-2026!"
FLEET = Path(sys.executable).with_name("fleet")


@pytest.fixture
def fleet(secure_broker, tmp_path, monkeypatch):
    # As in production: Mosquitto's pid file, and the server password for the session kick.
    (secure_broker.config_dir / "mosquitto.pid").write_text(f"{secure_broker.process.pid}\n")
    env = {"FLEET_DB_URL": f"sqlite:///{tmp_path}/fleet.sqlite3", "FLEET_MASTER_SECRET": MASTER,
           "FLEET_BROKER_SECURITY_DIR": str(secure_broker.config_dir),
           "FLEET_PKI_DIR": str(secure_broker.ca.dir), "FLEET_MQTT_PASSWORD": SERVER_PASSWORD}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    fleet = bootstrap(Settings(db_url=env["FLEET_DB_URL"], master_secret=MASTER,
                               broker_security_dir=env["FLEET_BROKER_SECURITY_DIR"],
                               pki_dir=env["FLEET_PKI_DIR"], settlement_enabled=False))
    Base.metadata.create_all(fleet.engine)
    registry.add_partner(fleet.uow(), Partner("P1", "Librairie des Lilas"))
    yield fleet
    fleet.close()


class Terminal:
    """A registered, active terminal connected with its certificate, listening on its cmd."""

    def __init__(self, fleet, broker, folder: Path):
        secrets = registry.register_device(fleet.uow(), fleet.keys, "esp32-gm65",
                                           datetime.now(UTC))
        self.id = secrets.device_id
        registry.assign_device(fleet.uow(), self.id, "P1")
        registry.change_state(fleet.uow(), self.id, "activate")
        folder.mkdir()
        self.cred = broker.ca.issue_device(self.id)
        self.broker, self.folder = broker, folder
        self.connect()

    def connect(self):
        self.client = device_client(self.broker, self.id, self.cred.cert_der, self.cred.key_der,
                                    self.folder)
        self.dropped = threading.Event()
        self.client.client.on_disconnect = lambda *a: self.dropped.set()
        if self.client.ok:
            self.client.subscribe(f"t/{self.id}/cmd")
        return self.client.ok

    def reached(self, server) -> bool:
        server.publish(f"t/{self.id}/cmd", b"ping")
        return (f"t/{self.id}/cmd", b"ping") in self.client.received(wait=1)

    def close(self):
        self.client.close()


def _console_session(fleet, http):
    """An operator logged in to the web console; returns a function that posts the terminal
    state form of the operator's terminals page, as the browser does."""
    accounts = fleet.accounts
    _, link = accounts.invite("operator@example.org", "operator", send=False)
    accounts.complete_link(link.split("token=")[1], "activate", PASSWORD, PASSWORD)
    page = http.get("/login")
    http.post("/login", data={"email": "operator@example.org", "password": PASSWORD,
                              "csrf_token": _csrf(page.text)})

    def change_state(device_id, action):
        token = _csrf(http.get("/operator/terminals").text)
        r = http.post(f"/operator/terminals/{device_id}/state",
                      data={"action": action, "csrf_token": token}, follow_redirects=False)
        assert r.status_code in (302, 303), r.text

    return change_state


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _shut_out_at_once(terminal, server, act):
    assert terminal.reached(server)
    act(terminal.id)
    assert terminal.dropped.wait(3), "the session stayed open"
    assert not terminal.reached(server)


def test_suspend_from_the_cli_the_api_and_the_console(fleet, secure_broker, tmp_path):
    server = server_client(secure_broker)
    token = issue_token(fleet.session_factory, "operator", None, "op")
    http = TestClient(create_app(fleet))
    console = _console_session(fleet, http)

    def by_cli(device_id):
        run = subprocess.run([str(FLEET), "device", "suspend", device_id], env=os.environ,
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr

    def by_api(device_id):
        r = http.post(f"/api/v1/devices/{device_id}/suspend",
                      headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text

    terminals = []
    try:
        for name, act in (("cli", by_cli), ("api", by_api),
                          ("console", lambda d: console(d, "suspend"))):
            terminal = Terminal(fleet, secure_broker, tmp_path / name)
            terminals.append(terminal)
            _shut_out_at_once(terminal, server, act)
        resumed = terminals[1]
        by_api_resume = http.post(f"/api/v1/devices/{resumed.id}/resume",
                                  headers={"Authorization": f"Bearer {token}"})
        assert by_api_resume.status_code == 200
        resumed.close()
        assert resumed.connect() and resumed.reached(server)  # the certificate still holds
    finally:
        for terminal in terminals:
            terminal.close()
        server.close()


def test_registry_retire_revokes_at_the_broker(fleet, secure_broker, tmp_path):
    server = server_client(secure_broker)
    terminal = Terminal(fleet, secure_broker, tmp_path / "t")
    try:
        _shut_out_at_once(terminal, server, lambda d: registry.change_state(
            fleet.uow(), d, "retire", broker=fleet.broker_access))
        assert secure_broker.ca.is_revoked(terminal.id)
    finally:
        terminal.close()
        server.close()
