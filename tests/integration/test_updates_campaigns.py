"""Campaigns with simulated terminals (the real firmware code on CPython, each with its own
flash directory and MQTT connection) against the real Mosquitto, the fleet server and its
database: a staged rollout to 50 terminals, a tampered file that aborts the campaign, a
download that resumes after disconnects and a power cut, a terminal that was offline, a badly
signed release refused by the server and by the devices."""

import os
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fleet_stack import Stack
from polling import eventually

from fleet_server.adapters.mqtt_bus import parse_broker_url
from fleet_server.adapters.orm_updates import update_blobs
from fleet_server.service_layer import registry
from fleet_server.service_layer import updates_releases as rel
from fleet_server.service_layer.campaigns_ports import Rules, Target

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "firmware"))

from terminal import store  # noqa: E402
from terminal.update import boot  # noqa: E402

from simulator.identities import write_flash  # noqa: E402
from simulator.terminal import SimTerminal  # noqa: E402

pytestmark = [pytest.mark.broker]
MODELS = ["esp32_gm65", "unix_sim"]


class Fleet:
    """The terminals, stepped in a background thread."""

    def __init__(self, stack, tmp: Path, key, count: int, partner: str):
        host, port = parse_broker_url(stack.broker_url)
        self.terminals = []
        for i in range(count):
            secrets = registry.register_device(stack.fleet.uow(), stack.fleet.keys,
                                               "esp32-gm65", datetime.now(UTC))
            registry.assign_device(stack.fleet.uow(), secrets.device_id, partner)
            registry.change_state(stack.fleet.uow(), secrets.device_id, "activate")
            root = tmp / f"t{i}"
            write_flash(root, secrets, host, port)
            store.save_json(str(root / "release_keys.json"),
                            [rel.public_key_bytes(key.public_key()).hex()])
            # Updates on, as on a board: SimTerminal is assembled like firmware/main.py.
            self.terminals.append(SimTerminal(root))
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def start(self, powered=None):
        for i, t in enumerate(self.terminals):
            if powered is None or i in powered:
                t.boot()
        self.thread.start()
        return self

    def _loop(self):
        while not self.stopping:
            with self.lock:
                for t in self.terminals:
                    t.step()
            time.sleep(0.002)

    def stop(self):
        self.stopping = True
        self.thread.join(10)
        for t in self.terminals:
            if t.powered:
                t.shutdown()

    def ids(self):
        return [t.device_id for t in self.terminals]


@pytest.fixture
def key(monkeypatch):
    private = ec.generate_private_key(ec.SECP256R1())
    monkeypatch.setenv("FLEET_RELEASE_KEYS", rel.public_key_bytes(private.public_key()).hex())
    return private


@pytest.fixture
def stack(mosquitto, tmp_path, key):
    stack = Stack(mosquitto.url, f"sqlite:///{tmp_path}/fleet.sqlite3").start()
    stack.setup_program()
    yield stack
    stack.stop()


def make_release(version: str, files: dict[str, bytes], key, models=MODELS):
    entries = [{"path": p, "size": len(d), "sha256": rel.sha256_hex(d)} for p, d in files.items()]
    manifest = rel.build_manifest(version, models, entries)
    return rel.ReleaseCandidate(manifest, rel.sign_manifest(key, manifest),
                                {rel.sha256_hex(d): d for d in files.values()})


def small_files(seed: bytes, size: int = 3000) -> dict[str, bytes]:
    return {f"assets/part{i}.bin": seed * (size // len(seed)) + bytes([i]) for i in range(3)}


def service_of(stack):
    return stack.fleet.updates


def test_a_staged_rollout_to_50_terminals_reaches_every_one(stack, tmp_path, key):
    service = service_of(stack)
    service.publish(make_release("1.1.0", small_files(b"v110"), key))
    shop = stack.partner("Librairie Centrale")
    fleet = Fleet(stack, tmp_path, key, 50, shop).start()
    try:
        eventually(lambda: all(t.online for t in fleet.terminals),
                   timeout=60, what="terminals online")
        time.sleep(1)  # the server has seen every status
        view = service.create("1.1.0", Target(all=True), Rules(
            base_per_minute=20, ramp=2, max_per_minute=200, start_delay_s=2, min_devices=10),
            "ROLL50")
        assert view["total"] == 50
        first = eventually(lambda: service.show("ROLL50")["counts"].get("pending", 0) < 50,
                           timeout=20, what="first offers")
        assert first
        # The first minute's budget (20): the other 30 wait for the ramp.
        assert service.campaigns.offered_since("ROLL50", view["started_at"]) <= 20
        # The ramp without waiting minutes: ticks at the next minutes' clock (20, 40, ...).
        for minute in (1, 2):
            for topic, payload, qos, retain in service.tick(
                    view["started_at"] + timedelta(minutes=minute)):
                stack.fleet.bus.publish(topic, payload, qos, retain)
        final = eventually(lambda: service.show("ROLL50"),
            until=lambda v: v["state"] == "completed", timeout=240, what="campaign completed")
        assert final["succeeded"] == 50 and final["failures"] == 0, final
        for t in fleet.terminals:
            state = boot.load(t.root)
            assert state["active"] == "a" and state["rel"] == "1.1.0"
    finally:
        fleet.stop()


def test_a_tampered_file_fails_the_devices_and_aborts_the_campaign(stack, tmp_path, key):
    service = service_of(stack)
    files = small_files(b"bad!")
    service.publish(make_release("1.1.0", files, key))
    victim = rel.sha256_hex(files["assets/part1.bin"])
    with stack.fleet.engine.begin() as conn:  # the store's copy no longer matches its hash
        conn.execute(update_blobs.update().where(update_blobs.c.sha256 == victim).values(
            data=b"tampered" + files["assets/part1.bin"][8:]))
    shop = stack.partner("Librairie Tamper")
    fleet = Fleet(stack, tmp_path, key, 12, shop).start()
    try:
        eventually(lambda: all(t.online for t in fleet.terminals),
                   timeout=30, what="terminals online")
        time.sleep(0.5)
        service.create("1.1.0", Target(all=True), Rules(
            base_per_minute=6, max_per_minute=6, min_devices=4, failure_threshold=0.25,
            max_retries=0), "TAMPER")
        view = eventually(lambda: service.show("TAMPER"),
                          until=lambda v: v["state"] == "aborted", timeout=60, what="abort")
        assert view["succeeded"] == 0 and view["failures"] >= 4
        assert view["counts"].get("skipped", 0) >= 6  # never offered: the abort stopped them
        failed = service.campaigns.devices("TAMPER", ("failed",))
        assert failed and all((d["reason"] or "").startswith("hash") for d in failed)
        for t in fleet.terminals:  # nothing was installed anywhere
            assert boot.load(t.root)["trial"] is None and boot.load(t.root)["active"] is None
    finally:
        fleet.stop()


class RequestLog:
    """Every update_req on the broker, as (device, file, offset)."""

    def __init__(self, broker_url):
        import json

        host, port = parse_broker_url(broker_url)
        self.seen = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="req-log")
        self.client.on_message = lambda c, u, m: self.seen.append(
            (lambda d: (d["dev"], d["f"], d["off"]))(json.loads(m.payload)))
        self.client.connect(host, port)
        self.client.subscribe("t/+/upd/req", 1)
        self.client.loop_start()

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def test_a_download_interrupted_by_disconnects_and_a_power_cut_resumes(stack, tmp_path, key,
                                                                       mosquitto):
    service = service_of(stack)
    big = {"assets/big.bin": os.urandom(60_000), "assets/small.bin": os.urandom(500)}
    service.publish(make_release("1.1.0", big, key))
    shop = stack.partner("Librairie Reprise")
    fleet = Fleet(stack, tmp_path, key, 1, shop).start()
    requests = RequestLog(stack.broker_url)
    t = fleet.terminals[0]
    big_sha = rel.sha256_hex(big["assets/big.bin"])
    try:
        eventually(lambda: t.online, timeout=30, what="online")
        time.sleep(0.5)
        service.create("1.1.0", Target(devices=[t.device_id]), Rules(min_devices=1), "RESUME")
        for cut in (8_000, 20_000, 35_000):
            eventually(lambda c=cut: any(f == big_sha and off >= c for _d, f, off in requests.seen),
                       timeout=30, what=f"download past {cut}")
            with fleet.lock:
                if cut == 20_000:
                    t.power_cut()  # RAM lost, flash kept: the job and the staged bytes
                    t.boot()
                else:
                    t.set_link(False)
            if cut != 20_000:
                time.sleep(0.5)
                with fleet.lock:
                    t.set_link(True)
        eventually(lambda: service.campaigns.device("RESUME", t.device_id)["state"] == "succeeded",
                   timeout=60, what="succeeded")
        offsets = [off for _d, f, off in requests.seen if f == big_sha]
        assert offsets.count(0) == 1, "the download started again from the beginning"
        assert max(offsets) >= 58_000
    finally:
        requests.close()
        fleet.stop()


def test_a_terminal_offline_at_the_start_is_updated_when_it_comes_back(stack, tmp_path, key):
    service = service_of(stack)
    service.publish(make_release("1.1.0", small_files(b"late"), key))
    shop = stack.partner("Librairie Absente")
    fleet = Fleet(stack, tmp_path, key, 3, shop).start(powered={0, 1})
    late = fleet.terminals[2]
    try:
        eventually(lambda: fleet.terminals[0].online and fleet.terminals[1].online,
                   timeout=30, what="online")
        time.sleep(0.5)
        service.create("1.1.0", Target(all=True), Rules(min_devices=1), "LATE")
        eventually(lambda: service.show("LATE")["succeeded"] == 2, timeout=60, what="two succeeded")
        time.sleep(1.5)
        assert service.campaigns.device("LATE", late.device_id)["state"] == "pending"
        with fleet.lock:
            late.boot()
        view = eventually(lambda: service.show("LATE"),
                          until=lambda v: v["state"] == "completed", timeout=60, what="completed")
        assert view["succeeded"] == 3
    finally:
        fleet.stop()


def test_a_badly_signed_release_is_refused_by_the_server_and_by_the_devices(stack, tmp_path,
                                                                           key):
    service = service_of(stack)
    other = ec.generate_private_key(ec.SECP256R1())
    forged = make_release("1.1.0", small_files(b"evil"), other)
    with pytest.raises(rel.ReleaseError) as err:
        service.publish(forged)
    assert err.value.code == "signature"
    unsigned = rel.ReleaseCandidate(forged.manifest, None, forged.files)
    with pytest.raises(rel.ReleaseError) as err:
        service.publish(unsigned)
    assert err.value.code == "unsigned"
    # A forged row put straight into the database (a compromised server): the devices check
    # the signature themselves and refuse.
    doc = rel.parse_manifest(forged.manifest)
    service.releases.add_release(doc, forged.manifest, forged.signature, forged.files,
                                 datetime.now(UTC))
    shop = stack.partner("Librairie Prudente")
    fleet = Fleet(stack, tmp_path, key, 2, shop).start()
    try:
        eventually(lambda: all(t.online for t in fleet.terminals), timeout=30, what="online")
        time.sleep(0.5)
        service.create("1.1.0", Target(all=True), Rules(min_devices=2), "FORGED")
        view = eventually(lambda: service.show("FORGED"),
                          until=lambda v: v["state"] == "aborted", timeout=60, what="abort")
        rows = service.campaigns.devices("FORGED")
        assert [(r["state"], r["reason"]) for r in rows] == [("rejected", "signature")] * 2
        assert view["succeeded"] == 0
    finally:
        fleet.stop()
