"""Releases and campaigns through the REST API and the update service, on SQLite and
PostgreSQL (migration a4f0d2b6c8e1): publication checks, pacing with its exponential ramp,
timeouts, retries, the abort threshold, pause, resume and cancel, chunk serving, reports."""

import base64
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from fleet_server.adapters.api_tokens import issue_token
from fleet_server.adapters.db import Base
from fleet_server.bootstrap import bootstrap
from fleet_server.entrypoints.app import create_app
from fleet_server.service_layer import registry
from fleet_server.service_layer import updates_releases as rel
from fleet_server.service_layer.campaigns_ports import Rules, Target
from fleet_server.settings import Settings
from protocol import auth, messages, topics

MASTER = "updates-test-master-secret-0123456789abcdef"
V1 = "/api/v1"
T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/fleet.sqlite3"
    return request.getfixturevalue("fresh_postgres_url")


@pytest.fixture
def key(monkeypatch):
    private = ec.generate_private_key(ec.SECP256R1())
    monkeypatch.setenv("FLEET_RELEASE_KEYS", rel.public_key_bytes(private.public_key()).hex())
    return private


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


@pytest.fixture
def fleet(db_url, key):
    clock = Clock()
    fleet = bootstrap(Settings(db_url=db_url, master_secret=MASTER, settlement_enabled=False),
                      clock=clock)
    Base.metadata.create_all(fleet.engine)  # api_tokens, until its migration creates it
    fleet.clock = clock
    service = fleet.updates
    service.directory._online = lambda device_id: True  # every terminal connected
    yield fleet
    fleet.close()


def release(version, key, files=None, models=("esp32_gm65",)):
    files = files or {"a.bin": b"A" * 5000, "b.bin": b"B" * 100}
    entries = [{"path": p, "size": len(d), "sha256": rel.sha256_hex(d)} for p, d in files.items()]
    manifest = rel.build_manifest(version, list(models), entries)
    return rel.ReleaseCandidate(manifest, rel.sign_manifest(key, manifest),
                                {rel.sha256_hex(d): d for d in files.values()})


def body_of(candidate, **extra):
    body = dict(manifest_b64=base64.b64encode(candidate.manifest).decode(),
                signature=candidate.signature,
                files={k: base64.b64encode(v).decode() for k, v in candidate.files.items()})
    return dict(body, **extra)


def devices(fleet, n):
    out = []
    for _ in range(n):
        s = registry.register_device(fleet.uow(), fleet.keys, "esp32-gm65", T0)
        out.append(s.device_id)
    return out


def report(fleet, device_id, cid, st, reason=None):
    fields = {"dev": device_id, "ts": int(T0.timestamp()), "id": cid, "st": st, "rel": "1.1.0"}
    if reason:
        fields["reason"] = reason
    message = messages.build("update_report", fields)
    payload = auth.seal(message, fleet.keys.command_key(device_id, 1))
    return fleet.updates.handle(topics.topic(device_id, "update_report"), payload)


def test_publication_checks_over_the_api(fleet, key):
    http = TestClient(create_app(fleet))
    op = {"Authorization": "Bearer " + issue_token(fleet.session_factory, "operator", None, "o")}
    support = {"Authorization": "Bearer " + issue_token(fleet.session_factory, "support", None,
                                                        "s")}
    good = release("1.1.0", key)
    r = http.post(V1 + "/releases", json=body_of(good), headers=support)
    assert r.status_code == 403
    r = http.post(V1 + "/releases", json=body_of(good, signature=None), headers=op)
    assert r.status_code == 422 and "unsigned" in r.text
    forged = release("1.1.0", ec.generate_private_key(ec.SECP256R1()))
    r = http.post(V1 + "/releases", json=body_of(forged), headers=op)
    assert r.status_code == 422 and "signature" in r.text
    broken = body_of(good)
    sha = next(iter(good.files))
    broken["files"][sha] = base64.b64encode(b"not the content").decode()
    r = http.post(V1 + "/releases", json=broken, headers=op)
    assert r.status_code == 422 and "hash" in r.text
    r = http.post(V1 + "/releases", json=body_of(good), headers=op)
    assert r.status_code == 201, r.text
    assert r.json()["manifest_sha"] == rel.sha256_hex(good.manifest)
    assert http.post(V1 + "/releases", json=body_of(good), headers=op).status_code == 409
    old = release("1.0.0", key)
    r = http.post(V1 + "/releases", json=body_of(old), headers=op)
    assert r.status_code == 409 and "downgrade" in r.text
    assert http.post(V1 + "/releases", json=body_of(old, allow_downgrade=True),
                     headers=op).status_code == 201
    # Files the store holds already need not be sent again (content addressed).
    newer = release("1.2.0", key, {"a.bin": b"A" * 5000, "c.bin": b"C" * 10})
    partial = body_of(newer)
    del partial["files"][rel.sha256_hex(b"A" * 5000)]
    assert http.post(V1 + "/releases", json=partial, headers=op).status_code == 201
    assert [r["version"] for r in http.get(V1 + "/releases", headers=support).json()] == \
        ["1.0.0", "1.1.0", "1.2.0"]

    ids = devices(fleet, 3)
    r = http.post(V1 + "/campaigns", headers=op, json={
        "release": "1.1.0", "devices": ids, "campaign_id": "API1",
        "rules": {"base_per_minute": 2, "max_per_minute": 2}})
    assert r.status_code == 201, r.text
    assert r.json()["total"] == 3 and r.json()["state"] == "running"
    assert http.post(V1 + "/campaigns", headers=op, json={
        "release": "9.9.9", "all": True}).status_code == 422
    assert http.post(V1 + "/campaigns", headers=op, json={
        "release": "1.1.0", "all": True, "partner": "x"}).status_code == 422
    assert http.post(V1 + "/campaigns/API1/pause", headers=op).json()["state"] == "paused"
    assert http.post(V1 + "/campaigns/API1/pause", headers=op).status_code == 409
    assert http.post(V1 + "/campaigns/API1/resume", headers=op).json()["state"] == "running"
    assert http.post(V1 + "/campaigns/API1/cancel", headers=support).status_code == 403
    view = http.post(V1 + "/campaigns/API1/cancel", headers=op).json()
    assert view["state"] == "cancelled" and view["counts"] == {"skipped": 3}
    assert http.get(V1 + "/campaigns/NOPE", headers=op).status_code == 404
    assert len(http.get(V1 + "/campaigns/API1/devices", headers=support).json()) == 3


def test_pacing_ramps_up_and_reports_finish_the_campaign(fleet, key):
    service = fleet.updates
    service.publish(release("1.1.0", key))
    ids = devices(fleet, 30)
    view = service.create("1.1.0", Target(all=True), Rules(
        base_per_minute=2, ramp=2.0, max_per_minute=10, min_devices=5), "PACE")
    assert view["total"] == 30
    offered = []
    for minute in range(6):
        now = T0 + timedelta(minutes=minute, seconds=1)
        fleet.clock.now = now
        out = service.tick(now) + service.tick(now)  # a second tick in the same minute: none
        offered.append(len(out))
        for _topic, payload, _qos, _retain in out:
            msg = messages.parse(payload, "update_offer")
            assert msg["sig"] and msg["man"] == rel.sha256_hex(
                service.releases.get_release("1.1.0")["manifest"])
            report(fleet, msg["dev"], "PACE", "succeeded")
    assert offered == [2, 4, 8, 10, 6, 0]  # 2, doubled each minute, capped at 10
    fleet.clock.now = T0 + timedelta(minutes=6)
    service.tick(fleet.clock.now)
    final = service.show("PACE")
    assert final["state"] == "completed" and final["succeeded"] == 30
    assert set(ids) == {d["device_id"] for d in service.campaigns.devices("PACE")}


def test_timeouts_retries_and_the_abort_threshold(fleet, key):
    service = fleet.updates
    service.publish(release("1.1.0", key))
    ids = devices(fleet, 10)
    service.create("1.1.0", Target(devices=ids), Rules(
        base_per_minute=100, max_per_minute=100, min_devices=4, failure_threshold=0.5,
        device_timeout_s=60, max_retries=1), "ABORT")
    fleet.clock.now = T0 + timedelta(seconds=1)
    assert len(service.tick(fleet.clock.now)) == 10
    # Two devices succeed, one rolls back; one fails its download (retried once).
    for dev in ids[:2]:
        report(fleet, dev, "ABORT", "succeeded")
    report(fleet, ids[2], "ABORT", "rolled_back", "selftest scanner")
    report(fleet, ids[3], "ABORT", "failed", "hash mismatch abc")
    assert service.campaigns.device("ABORT", ids[3])["state"] == "pending"
    report(fleet, ids[4], "ABORT", "downloading")
    # Nobody answers for a while: the silent ones time out and are offered once more.
    fleet.clock.now = T0 + timedelta(seconds=90)
    again = service.tick(fleet.clock.now)
    assert len(again) == 7  # ids[3] (retry) + the six silent or stuck ones
    assert service.show("ABORT")["state"] == "running"
    fleet.clock.now = T0 + timedelta(seconds=200)
    service.tick(fleet.clock.now)  # second timeout: out of retries -> timed_out
    view = service.show("ABORT")
    assert view["state"] == "aborted", view
    assert view["counts"].get("timed_out") == 7 and "failure rate" in view["reason"]
    # Chunk requests for an aborted campaign's in-flight devices are still answered.
    row = service.releases.get_release("1.1.0")
    req = messages.build("update_req", {"dev": ids[4], "ts": int(T0.timestamp()),
                                        "id": "ABORT", "f": row["manifest_sha"], "off": 0,
                                        "n": 4096})
    out = service.handle(topics.topic(ids[4], "update_req"), messages.encode(req))
    chunk = messages.parse(out[0][1], "update_chunk")
    assert base64.b64decode(chunk["data"]) == row["manifest"] and chunk["eof"] is True


def test_chunks_are_served_only_for_the_campaign_s_files_and_reports_are_checked(fleet, key):
    service = fleet.updates
    files = {"a.bin": secrets.token_bytes(9000), "b.bin": b"small"}
    service.publish(release("1.1.0", key, files))
    dev, stranger = devices(fleet, 2)
    service.create("1.1.0", Target(devices=[dev]), Rules(min_devices=1), "SERVE")

    def ask(device, f, off, n=4096, cid="SERVE"):
        req = messages.build("update_req", {"dev": device, "ts": int(T0.timestamp()), "id": cid,
                                            "f": f, "off": off, "n": n})
        return service.handle(topics.topic(device, "update_req"), messages.encode(req))

    sha_a = rel.sha256_hex(files["a.bin"])
    got = b""
    while True:
        out = ask(dev, sha_a, len(got))
        chunk = messages.parse(out[0][1], "update_chunk")
        got += base64.b64decode(chunk["data"])
        if chunk["eof"]:
            break
    assert got == files["a.bin"]
    assert ask(dev, "0" * 64, 0) == []  # not a file of this release
    assert ask(stranger, sha_a, 0) == []  # not in the campaign
    assert ask(dev, sha_a, 0, cid="OTHER") == []
    assert ask(dev, sha_a, 10**6) == []
    # A report with a wrong MAC changes nothing.
    message = messages.build("update_report", {"dev": dev, "ts": int(T0.timestamp()),
                                               "id": "SERVE", "st": "succeeded",
                                               "rel": "1.1.0"})
    forged = auth.seal(message, b"\x00" * 32)
    service.handle(topics.topic(dev, "update_report"), forged)
    assert service.campaigns.device("SERVE", dev)["state"] == "pending"
    service.handle(topics.topic(dev, "update_report"), b"\xff garbage")
    report(fleet, dev, "SERVE", "succeeded")
    assert service.campaigns.device("SERVE", dev)["state"] == "succeeded"


def test_a_tampered_release_row_is_refused_with_a_clear_error(fleet, key):
    # A release row changed in the database after publication (a path climbing out of the
    # slot): starting a campaign with it is a 422 naming the damage, not a 500.
    from sqlalchemy import update

    from fleet_server.adapters.orm_updates import update_releases

    http = TestClient(create_app(fleet))
    op = {"Authorization": "Bearer " + issue_token(fleet.session_factory, "operator", None, "o")}
    good = release("1.1.0", key)
    assert http.post(V1 + "/releases", json=body_of(good), headers=op).status_code == 201
    tampered = good.manifest.replace(b'"a.bin"', b'"../a.bin"')
    with fleet.engine.begin() as conn:
        conn.execute(update(update_releases).where(update_releases.c.version == "1.1.0")
                     .values(manifest=tampered))
    ids = devices(fleet, 2)
    r = http.post(V1 + "/campaigns", headers=op, json={"release": "1.1.0", "devices": ids})
    assert r.status_code == 422, r.text
    assert "damaged release 1.1.0" in r.text and "../a.bin" in r.text
    with pytest.raises(Exception) as err:
        fleet.updates.start("1.1.0", {"all": True}, {})
    assert type(err.value).__name__ == "CampaignError"


def test_a_downgrade_needs_the_release_key_s_rollback_statement(fleet, key, tmp_path, capsys):
    # The attack: the server holds the command key that MACs offers, so a plain "dg" flag let
    # it (or whoever took it over) roll terminals back to any older signed release. Now the
    # offer carries the release key's signature of a statement naming the release.
    from fleet_server.entrypoints import release_cli
    from protocol import rollback

    http = TestClient(create_app(fleet))
    op = {"Authorization": "Bearer " + issue_token(fleet.session_factory, "operator", None, "o")}
    service = fleet.updates
    service.publish(release("1.2.0", key))
    old = release("1.1.0", key)
    service.publish(old, allow_downgrade=True)
    ids = devices(fleet, 2)
    r = http.post(V1 + "/campaigns", headers=op, json={
        "release": "1.1.0", "devices": ids, "rules": {"allow_downgrade": True}})
    assert r.status_code == 422 and "downgrade needs a rollback statement" in r.text
    # a statement signed by another key, or naming another release, is refused
    other = ec.generate_private_key(ec.SECP256R1())
    for signature in (rel.sign_rollback(other, "1.1.0", old.manifest),
                      rel.sign_rollback(key, "1.2.0", old.manifest)):
        r = http.post(V1 + "/releases/1.1.0/rollback", headers=op, json={"signature": signature})
        assert r.status_code == 422 and "rollback" in r.text
    assert http.post(V1 + "/releases/9.9.9/rollback", headers=op, json={
        "signature": "00" * 64}).status_code == 404
    # the operator signs it off the server and publishes it with the CLI's functions
    release_dir = tmp_path / "rel-1.1.0"
    release_dir.mkdir()
    (release_dir / "manifest.json").write_bytes(old.manifest)
    key_path = tmp_path / "release-key.pem"
    from cryptography.hazmat.primitives import serialization

    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    signature = release_cli.sign_rollback(release_dir, key_path)
    assert rel.signature_ok(rollback.statement("1.1.0", rel.sha256_hex(old.manifest)),
                            signature, [rel.public_key_bytes(key.public_key())])
    r = http.post(V1 + "/releases/1.1.0/rollback", headers=op, json={"signature": signature})
    assert r.status_code == 200 and r.json()["rollback_sig"] == signature
    r = http.post(V1 + "/campaigns", headers=op, json={
        "release": "1.1.0", "devices": ids, "campaign_id": "BACK",
        "rules": {"allow_downgrade": True}})
    assert r.status_code == 201, r.text
    out = service.tick(T0 + timedelta(seconds=1))
    offers = [messages.parse(payload, "update_offer") for _t, payload, _q, _r in out]
    assert offers and all(o["dg"] == signature for o in offers)
    # without allow_downgrade the offer carries no permission at all
    service.start("1.1.0", {"devices": ids}, {}, "FWD")
    out = service.tick(T0 + timedelta(minutes=5))
    assert all("dg" not in messages.parse(p, "update_offer") for _t, p, _q, _r in out)
