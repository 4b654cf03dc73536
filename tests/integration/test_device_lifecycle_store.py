"""The life-cycle schema on SQLite and PostgreSQL: the migration keeps existing requests (their
key id filled in, their ledger idempotency key unchanged), the request log keeps one row per
(device, key id, seq), the key switch is conditional; and the `fleet device` CLI."""

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from cryptography.x509 import load_der_x509_certificate
from sqlalchemy import text

from fleet_server.adapters import orm
from fleet_server.adapters.db import make_engine, make_session_factory
from fleet_server.adapters.migrations import config, upgrade
from fleet_server.adapters.pki import CertificateAuthority
from fleet_server.adapters.sql_request_store import SqlRequestStore
from fleet_server.adapters.sql_uow import SqlUnitOfWork
from fleet_server.domain.requests import ANSWERED, DEBIT, StoredRequest
from fleet_server.entrypoints import cli
from fleet_server.service_layer import registry, rekey
from fleet_server.service_layer.keys import KeyStore

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
MASTER = "lifecycle-store-master-secret-0123456789abcdef"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/fleet.sqlite3"
    return request.getfixturevalue("fresh_postgres_url")


def test_the_migration_keeps_existing_requests_and_their_ledger_key(db_url):
    engine = make_engine(db_url)
    command.upgrade(config(engine), "2977b4271fdd")
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO devices (device_id, model, initial_key_id, state, key_version, "
            "highest_seq) VALUES ('CT4F7KQ2MZ1', 'm', '0000A00100000001', 'active', 1, 7)"))
        conn.execute(text(
            "INSERT INTO device_requests (device_id, seq, kind, status, amount_cents, "
            "created_at) VALUES ('CT4F7KQ2MZ1', 7, 'debit', 'pending', 100, :now)"),
            {"now": NOW})
    upgrade(engine)
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT device_id, key_id, seq, ledger_key "
                                 "FROM device_requests")).all()
    assert [tuple(r) for r in rows] == [("CT4F7KQ2MZ1", "0000A00100000001", 7,
                                         "CT4F7KQ2MZ1:7")]
    # the same seq under another key is another request
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO device_requests (device_id, key_id, seq, kind, status, amount_cents, "
            "created_at) VALUES ('CT4F7KQ2MZ1', '0000A00100000002', 7, 'debit', 'pending', "
            "100, :now)"), {"now": NOW})
    command.downgrade(config(engine), "2977b4271fdd")  # keeps the current key's rows
    with engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM device_requests")).scalar() == 1
    upgrade(engine)
    engine.dispose()


@pytest.fixture
def store(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    orm.start_mappers()
    sessions = make_session_factory(engine)
    keys = KeyStore(MASTER, "0000A001")
    secrets = registry.register_device(SqlUnitOfWork(sessions), keys, "esp32-gm65", NOW)
    yield SqlRequestStore(engine), SqlUnitOfWork(sessions), keys, secrets
    engine.dispose()


def test_the_answer_under_the_next_command_key_switches_both_keys_once(store):
    from protocol import auth, messages

    requests, uow, keys, secrets = store
    requests.save(record(secrets, secrets.initial_key_id, 4), True)
    device, _command = rekey.start_rekey(uow, keys, secrets.device_id, NOW)
    new_kid = device.pending_key_id

    def answer(version):
        payload = auth.seal(messages.build("command_res", {
            "dev": secrets.device_id, "id": "rekey-x", "ok": True,
            "ts": int(NOW.timestamp())}), keys.command_key(secrets.device_id, version))
        return messages.parse(payload, "command_res")

    grace = timedelta(hours=72)
    assert not rekey.confirm_by_command_key(uow, keys, secrets.device_id, answer(1), NOW, grace)
    results = []
    threads = [threading.Thread(target=lambda: results.append(rekey.confirm_by_command_key(
        SqlUnitOfWork(uow.session_factory), keys, secrets.device_id, answer(2), NOW, grace)))
        for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [False, False, False, True]  # one switch, under the row lock
    device, _p, _s, _sale = requests.load(secrets.device_id, 1, key_id=new_kid)
    assert (device.initial_key_id, device.pending_key_id, device.key_version) == \
        (new_kid, None, 2)
    assert (device.previous_key_id, device.previous_highest_seq) == (secrets.initial_key_id, 4)


def record(secrets, kid, seq, kind=DEBIT, oseq=None):
    return StoredRequest(device_id=secrets.device_id, seq=seq, kind=kind, status=ANSWERED,
                         created_at=NOW, key_id=kid, original_seq=oseq, result_payload=b"r",
                         result_status="approved", operation_id=f"OP{kid[-1]}{seq}",
                         ledger_key=f"{secrets.device_id}:{kid}:{seq}")


def test_requests_and_counters_are_per_key_and_the_switch_is_conditional(store):
    requests, uow, keys, secrets = store
    old = secrets.initial_key_id
    requests.save(record(secrets, old, 1), True)
    requests.save(record(secrets, old, 2), True)
    _device, new = rekey.start_rekey(uow, keys, secrets.device_id, NOW)
    new_kid = _device.pending_key_id
    requests.switch_key(secrets.device_id, new_kid, NOW + timedelta(hours=72))
    requests.switch_key(secrets.device_id, new_kid, NOW + timedelta(hours=99))  # no-op now
    requests.save(record(secrets, new_kid, 1), True)  # same seq, other key: no conflict
    requests.save(record(secrets, old, 3), True)  # within the grace period
    device, _partner, stored, sale = requests.load(secrets.device_id, 1, original_seq=2,
                                                   key_id=new_kid)
    assert (device.initial_key_id, device.previous_key_id) == (new_kid, old)
    assert device.previous_key_until == NOW + timedelta(hours=72)
    assert (device.highest_seq, device.previous_highest_seq) == (1, 3)
    assert device.key_version == 2  # the command key switched with the Initial Key, once
    assert stored.key_id == new_kid and stored.operation_id == f"OP{new_kid[-1]}1"
    assert sale.key_id == old and sale.seq == 2  # a sale of the old key, found from the new
    _d, _p, old_one, _s = requests.load(secrets.device_id, 1, key_id=old)
    assert old_one.key_id == old
    # a duplicate insert of (device, key, seq) returns the stored bytes
    assert requests.save(record(secrets, new_kid, 1), True) == b"r"


def test_the_cli_allocates_from_a_file_rekeys_rotates_and_retires(db_url, tmp_path, capsys,
                                                                  monkeypatch):
    monkeypatch.setenv("FLEET_MASTER_SECRET", MASTER)
    db = ["--db", db_url]
    keys_file = tmp_path / "keys.json"
    assert cli.main(["device", "register", "--count", "3", "--keys-out", str(keys_file), *db]) \
        == 0
    made = json.loads(keys_file.read_text())
    assert all(entry["claim_code"] for entry in made) and oct(keys_file.stat().st_mode)[-3:] \
        == "600"
    assert cli.main(["partner", "P1", "Librairie", *db]) == 0
    assert cli.main(["device", "allocate", "P1", "--from-file", str(keys_file), *db]) == 0
    assert "3 terminal(s) allocated to P1" in capsys.readouterr().out
    assert cli.main(["device", "allocate", "P1", made[0]["device_id"], *db]) == 1
    assert "already_allocated" in capsys.readouterr().err
    device = made[0]["device_id"]
    ca = CertificateAuthority(tmp_path / "pki")
    ca.init()
    first = ca.issue_device(device)
    certs = tmp_path / "renewed"
    assert cli.main(["device", "renew-cert", device, "--pki", str(ca.dir), "--out", str(certs),
                     *db]) == 0
    renewed = load_der_x509_certificate((certs / "cert.der").read_bytes())
    assert renewed.serial_number != first.serial and not (certs / "key.der").exists()
    assert cli.main(["device", "renew-cert", made[1]["device_id"], "--pki", str(ca.dir), *db]) \
        == 1  # never had a certificate
    assert "no certificate" in capsys.readouterr().err
    assert cli.main(["device", "rekey", device, *db]) == 0
    assert "pending key" in capsys.readouterr().out
    assert cli.main(["device", "rotate-bdk", "0000C001", *db]) == 0
    assert cli.main(["device", "retire", device, *db]) == 0
    out = capsys.readouterr().out
    assert "retired" in out and f"t/{device}/config" in out
    assert cli.main(["device", "rekey", device, *db]) == 1
    assert "retired" in capsys.readouterr().err
    assert cli.main(["device", "renew-cert", device, "--pki", str(ca.dir), "--out", str(certs),
                     *db]) == 1
    assert "device_retired" in capsys.readouterr().err


def test_two_simultaneous_claims_with_one_code_activate_once(store):
    _requests, uow, keys, secrets = store
    from fleet_server.domain.partners import Partner
    from fleet_server.service_layer import device_lifecycle

    registry.add_partner(SqlUnitOfWork(uow.session_factory), Partner("P1", "Librairie"))
    device_lifecycle.allocate_devices(SqlUnitOfWork(uow.session_factory), "P1",
                                      [secrets.device_id], NOW)
    start, outcomes = threading.Barrier(4), []

    def claim():
        start.wait()
        try:
            device_lifecycle.claim_device(SqlUnitOfWork(uow.session_factory), keys, "P1",
                                          secrets.device_id, secrets.claim_code, NOW,
                                          lambda _p: None)
            outcomes.append("claimed")
        except device_lifecycle.ClaimRefused as err:
            outcomes.append(err.code)

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["already_claimed"] * 3 + ["claimed"]


def test_parallel_guesses_stay_within_the_bound(store):
    _requests, uow, keys, secrets = store
    from fleet_server.domain.partners import Partner
    from fleet_server.service_layer import device_lifecycle
    from protocol import tokens

    registry.add_partner(SqlUnitOfWork(uow.session_factory), Partner("P1", "Librairie"))
    device_lifecycle.allocate_devices(SqlUnitOfWork(uow.session_factory), "P1",
                                      [secrets.device_id], NOW)
    n = device_lifecycle.MAX_CLAIM_FAILURES + 6
    start, outcomes = threading.Barrier(n), []

    def guess(i):
        start.wait()
        try:
            device_lifecycle.claim_device(SqlUnitOfWork(uow.session_factory), keys, "P1",
                                          secrets.device_id,
                                          tokens.make_claim_code(f"AAAAAA{i:02d}"), NOW,
                                          lambda _p: None)
        except device_lifecycle.ClaimRefused as err:
            outcomes.append(err.code)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert outcomes.count("claim_code_wrong") == device_lifecycle.MAX_CLAIM_FAILURES
    assert outcomes.count("claim_attempts_exceeded") == 6


def test_parallel_rekeys_never_hand_out_one_initial_key_twice(store):
    # Two terminals re-keyed at the same moment (two API calls, two MQTT workers asking for a
    # re-key): the second must wait for the first's key id, not read the same maximum.
    _requests, uow, keys, secrets = store
    sessions = uow.session_factory
    other = registry.register_device(SqlUnitOfWork(sessions), keys, "esp32-gm65", NOW)
    result = {}

    def second_rekey():
        device, _command = rekey.start_rekey(SqlUnitOfWork(sessions), keys, other.device_id,
                                             NOW)
        result["kid"] = device.pending_key_id

    first = SqlUnitOfWork(sessions)
    with first:
        device = first.devices.get(secrets.device_id, lock=True)
        device.start_rekey(rekey.new_initial_key_id(first, keys), NOW)
        thread = threading.Thread(target=second_rekey)
        thread.start()
        thread.join(1.0)  # the second re-key runs while the first is not committed yet
        first.commit()
    thread.join(60)
    assert result["kid"] != device.pending_key_id
