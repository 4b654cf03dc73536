"""The support desk on a real fleet server, the project's Mosquitto, SQLite and PostgreSQL,
through the REST API: live status from heartbeats and the last will, commands answered by a
protocol-level terminal, a command queued for an offline terminal and delivered on its return,
interventions, alerts, the audit trail, and roles."""

import queue
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from fleet_stack import Stack
from polling import eventually

from fleet_server.adapters.api_tokens import issue_token
from fleet_server.entrypoints.app import create_app
from fleet_server.entrypoints.support_texts import timeline_text
from protocol import auth, messages, topics

pytestmark = [pytest.mark.broker]
V1 = "/api/v1/support"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/fleet.sqlite3"
    return request.getfixturevalue("fresh_postgres_url")


class CommandTerminal:
    """A terminal reduced to its status, heartbeats and command answers, with a last will; a
    dropped connection (no DISCONNECT) makes the broker publish "offline" for it."""

    def __init__(self, broker, device_id: str, command_key: bytes):
        self.dev, self.key, self.broker = device_id, command_key, broker
        self.commands: queue.Queue = queue.Queue()
        self.answers = True
        self._connect()

    def _connect(self):
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.dev,
                                  protocol=mqtt.MQTTv311, clean_session=False)
        will = messages.encode(messages.build("status", {"dev": self.dev,
                                                         "ts": messages.TS_MIN,
                                                         "st": "offline"}))
        self.client.will_set(topics.topic(self.dev, "status"), will, qos=1, retain=True)
        self.client.on_message = self._message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect(self.broker.host, self.broker.port, keepalive=30)
        self.client.loop_start()
        self.client.subscribe(topics.topic(self.dev, "command"), 1)
        assert subscribed.wait(10)
        self.publish("status", {"st": "online", "fw": "0.1.0"}, retain=True)

    def publish(self, mtype: str, fields: dict, retain: bool = False) -> None:
        body = dict(fields, dev=self.dev, ts=int(time.time()))
        message = messages.build(mtype, body)
        payload = auth.seal(message, self.key) if "mac" in messages.MESSAGES[mtype][0] \
            else messages.encode(message)
        self.client.publish(topics.topic(self.dev, mtype), payload, qos=1,
                            retain=retain).wait_for_publish(10)

    def heartbeat(self, **fields):
        body = {"up": 60, "heap": 80000, "fw": "0.1.0", "boots": 2, "rst": "power_on",
                "jn": 0, "scn": "ok", "rssi": -67}
        body.update(fields)
        self.publish("heartbeat", body)

    def _message(self, _client, _userdata, msg):
        if msg.topic != topics.topic(self.dev, "command"):
            return  # its configuration (the session also holds the other device topics)
        command = messages.parse(msg.payload, "command")
        auth.verify(command, self.key)
        self.commands.put(command)
        if self.answers:
            res = {"diagnostics": {"network": {"ok": True}, "scanner": {"ok": True}},
                   "restart": {"scheduled": True}, "ping": {"pong": 1},
                   "get_logs": {"lines": ["boot", "online"], "truncated": False}
                   }.get(command["name"], {})
            threading.Thread(target=self.publish, args=("command_res", {
                "id": command["id"], "ok": True, "res": res})).start()

    def drop(self):
        """The connection dies without a goodbye: the broker sends the last will."""
        self.client.loop_stop()
        self.client.socket().close()

    def come_back(self):
        self._connect()

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def desk(mosquitto, db_url):
    stack = Stack(mosquitto.url, db_url).start()
    stack.setup_program()
    shop = stack.partner("Librairie des Lilas")
    wire = stack.terminal(shop)
    wire.close()  # only its registration is needed; CommandTerminal speaks for it
    fleet = stack.fleet
    token = issue_token(fleet.session_factory, "support", None, "agent-" + uuid.uuid4().hex[:6])
    http = TestClient(create_app(fleet))
    http.headers["Authorization"] = f"Bearer {token}"
    terminal = CommandTerminal(mosquitto, wire.wire.device_id,
                               fleet.keys.command_key(wire.wire.device_id, 1))
    yield stack, http, terminal, shop
    terminal.close()
    stack.stop()


def test_status_commands_offline_queue_interventions_and_audit(desk):
    stack, http, terminal, shop = desk
    dev = terminal.dev
    terminal.heartbeat()
    row = eventually(lambda: http.get(f"{V1}/terminals/{dev}").json(),
                     until=lambda r: r["connection"] == "online" and r["rssi"] == -67)
    assert row["partner"]["name"] == "Librairie des Lilas"
    found = http.get(f"{V1}/terminals", params={"q": "lilas", "connection": "online"}).json()
    assert [r["device_id"] for r in found["items"]] == [dev]

    # Diagnostics: sent MACed, answered, recorded.
    r = http.post(f"{V1}/terminals/{dev}/commands",
                  json={"name": "diagnostics", "reason": "écran noir signalé"})
    assert r.status_code == 202, r.text
    command_id = r.json()["command_id"]
    done = eventually(lambda: http.get(f"{V1}/commands/{command_id}").json(),
                      until=lambda c: c["state"] == "succeeded")
    assert done["result"]["network"] == {"ok": True}

    # The connection drops: the last will says offline; a restart waits in the queue.
    terminal.drop()
    eventually(lambda: http.get(f"{V1}/terminals/{dev}").json()["connection"],
               until=lambda c: c == "offline")
    r = http.post(f"{V1}/terminals/{dev}/commands",
                  json={"name": "restart", "reason": "bloqué sur l'écran de vente"})
    queued_id = r.json()["command_id"]
    assert r.json()["state"] == "queued"
    terminal.come_back()
    delivered = eventually(lambda: http.get(f"{V1}/commands/{queued_id}").json(),
                           until=lambda c: c["state"] == "succeeded")
    assert delivered["result"] == {"scheduled": True}
    names = []
    while not terminal.commands.empty():
        names.append(terminal.commands.get()["id"])
    assert queued_id in names

    # An intervention with a note, linked to a command.
    r = http.post(f"{V1}/terminals/{dev}/interventions",
                  json={"category": "hardware_fault", "title": "Lecteur capricieux",
                        "note": "le partenaire rappelle demain"})
    assert r.status_code == 201, r.text
    iid = r.json()["intervention_id"]
    r = http.post(f"{V1}/terminals/{dev}/commands",
                  json={"name": "get_logs", "args": {"lines": 20}, "reason": "pour le ticket",
                        "intervention_id": iid})
    eventually(lambda: http.get(f"{V1}/interventions/{iid}").json(),
               until=lambda i: i["commands"] and i["commands"][0]["state"] == "succeeded")
    r = http.patch(f"{V1}/interventions/{iid}", json={"status": "resolved"})
    assert r.json()["status"] == "resolved"

    # Audit: who, when, why, result, for each action.
    audit = http.get(f"{V1}/audit", params={"device_id": dev}).json()["items"]
    by_target = {e["target"]: e for e in audit}
    assert by_target[command_id]["reason"] == "écran noir signalé"
    assert by_target[command_id]["result"].startswith("succeeded")
    assert by_target[queued_id]["result"].startswith("succeeded")
    assert {e["action"] for e in audit} >= {"command:diagnostics", "command:restart",
                                            "command:get_logs", "intervention:open",
                                            "intervention:update"}
    assert all(e["actor"].startswith("agent-") for e in audit)

    # The timeline tells the story, from the database.
    stack.fleet.dispatcher.status.flush()
    kinds = [e["kind"] for e in http.get(f"{V1}/terminals/{dev}/timeline").json()["items"]]
    assert {"status", "command", "intervention"} <= set(kinds)
    samples = http.get(f"{V1}/terminals/{dev}/samples").json()["items"]
    assert samples and samples[0]["rssi"] == -67


def test_an_unanswered_command_times_out(desk):
    _, http, terminal, _ = desk
    terminal.answers = False
    terminal.heartbeat()
    r = http.post(f"{V1}/terminals/{terminal.dev}/commands",
                  json={"name": "ping", "reason": "présent ?", "timeout_s": 5})
    command_id = r.json()["command_id"]
    eventually(lambda: http.get(f"{V1}/commands/{command_id}").json()["state"],
               until=lambda s: s == "timed_out", timeout=20)


def test_alerts_with_partner_and_summary_and_intervention_from_alert(desk):
    stack, http, terminal, _ = desk
    support = stack.fleet.support
    terminal.heartbeat(scn="fault", rssi=-95)
    eventually(lambda: support.status.view(terminal.dev).get("scn") == "fault")
    support.check_alerts()
    alerts = http.get(f"{V1}/alerts").json()["items"]
    assert {a["kind"] for a in alerts} == {"scanner_fault", "weak_signal"}
    weak = next(a for a in alerts if a["kind"] == "weak_signal")
    assert weak["partner_name"] == "Librairie des Lilas" and "-95 dBm" in weak["phone_summary"]
    r = http.post(f"{V1}/alerts/{weak['alert_id']}/intervention")
    # The scanner fault already opened one automatically: the same ticket is returned.
    assert r.status_code == 201 and r.json()["opened_by"] == "surveillance"
    only = http.get(f"{V1}/alerts", params={"kind": "weak_signal"}).json()["items"]
    assert [a["kind"] for a in only] == ["weak_signal"]


def test_roles_and_bad_input(desk):
    stack, http, terminal, shop = desk
    partner_token = issue_token(stack.fleet.session_factory, "partner_admin", shop,
                                "pa-" + uuid.uuid4().hex[:6])
    as_partner = {"Authorization": f"Bearer {partner_token}"}
    assert http.get(f"{V1}/terminals", headers=as_partner).status_code == 403
    assert http.get(f"{V1}/terminals", headers={"Authorization": "Bearer nope"}
                    ).status_code == 401
    # Support sees no money: the operations and settlements routes refuse it.
    assert http.get("/api/v1/transactions").status_code == 403
    assert http.get("/api/v1/settlements").status_code == 403
    dev = terminal.dev
    for body in ({"name": "format", "reason": "xxx"}, {"name": "restart"},
                 {"name": "restart", "reason": "x"}, {"name": "restart", "reason": "ok ok",
                                                      "extra": 1},
                 {"name": "get_logs", "reason": "journal", "args": {"lines": 10_000}},
                 {"name": "restart", "reason": "a\x00b"}):
        r = http.post(f"{V1}/terminals/{dev}/commands", json=body)
        assert r.status_code == 422, (body, r.text)
    assert http.post(f"{V1}/terminals/CTZZZZZZZZ9/commands",
                     json={"name": "ping", "reason": "test"}).status_code == 404
    assert http.get(f"{V1}/interventions/99999999999").status_code == 422
    assert http.get(f"{V1}/interventions/424242").status_code == 404
    assert http.get(f"{V1}/terminals", params={"connection": "sleepy"}).status_code == 422


def test_sql_store_bounds_the_timeline_and_the_samples(desk):
    stack, _, terminal, _ = desk
    store = stack.fleet.support.store
    for i in range(40):
        stack.fleet.dispatcher.status.record(terminal.dev, "command", f"event {i}")
    stack.fleet.dispatcher.status.flush()
    from fleet_server.service_layer.support_ports import Seen

    old = datetime.now(UTC) - timedelta(days=30)
    store.write_batch([Seen(terminal.dev, old, None, -70, 1000, True)], [])
    store.prune(10, datetime.now(UTC) - timedelta(days=14))
    events = store.timeline(terminal.dev, limit=100)
    assert len(events) == 10 and timeline_text(events[0]).endswith("39")
    assert store.samples(terminal.dev, old - timedelta(days=1)) == []
