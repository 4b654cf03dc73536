"""The debit path in one transaction with the built-in ledger (SqlRequestUnit): one commit per
debit, and twins of one request racing on two workers still move money once and get the same
bytes, on SQLite and PostgreSQL."""

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, func, select

from fleet_server.bootstrap import bootstrap
from fleet_server.domain.partners import Partner
from fleet_server.ledger import rules
from fleet_server.ledger.reference import PotView
from fleet_server.ledger.tables import OperationRow, PotRow
from fleet_server.service_layer import registry
from fleet_server.settings import Settings
from protocol import tokens
from simulator.wire_terminal import WireTerminal


@pytest.fixture(params=["sqlite", "postgres"])
def fleet(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/fleet.sqlite3"
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    fleet = bootstrap(Settings(db_url=url, master_secret="unit-test-secret-0123456789abcdef",
                               settlement_enabled=False))
    yield fleet
    fleet.close()


def _terminal(fleet, balance=10_000):
    ledger, now = fleet.ledger, datetime.now(UTC)
    program = ledger.create_program("P", 2026, max_amount_cents=30000)
    partner = ledger.create_partner("Librairie")
    registry.add_partner(fleet.uow(), Partner(partner, "Librairie"))
    agreement = ledger.create_agreement(partner, program, "books", 2026)
    ledger.set_agreement_status(agreement, rules.ACCEPTED)
    ledger.set_agreement_status(agreement, rules.SIGNED)
    card = tokens.make_card("12345678901")
    ledger.create_beneficiary(program, card, [PotView("books", balance, None)])
    secrets = registry.register_device(fleet.uow(), fleet.keys, "t", now)
    registry.assign_device(fleet.uow(), secrets.device_id, partner)
    registry.change_state(fleet.uow(), secrets.device_id, "activate")
    wire = WireTerminal(secrets.device_id, secrets.initial_key_id,
                        bytes.fromhex(secrets.initial_key_hex))
    return wire, card


def _balance_and_operations(fleet):
    with fleet.engine.connect() as conn:
        balance = conn.execute(select(PotRow.balance_cents)).scalar()
        operations = conn.execute(select(func.count()).select_from(OperationRow)).scalar()
    return balance, operations


def test_the_built_in_ledger_runs_in_the_requests_transaction(fleet):
    assert fleet.dispatcher.requests.unit is not None


def test_one_debit_is_one_commit(fleet):
    wire, card = _terminal(fleet)
    pending = wire.debit(card, 250, "books")
    commits = []

    def count(_conn):
        commits.append(1)

    event.listen(fleet.engine, "commit", count)
    try:
        out = fleet.dispatcher(pending.topic, pending.payload)
    finally:
        event.remove(fleet.engine, "commit", count)
    assert WireTerminal.read_result(pending, out[0][1])["st"] == "approved"
    assert len(commits) == 1
    assert _balance_and_operations(fleet) == (10_000 - 250, 1)


def _race(fleet, pending, workers=3) -> list:
    answers, start = [], threading.Barrier(workers)

    def handle():
        start.wait()
        answers.append(fleet.dispatcher(pending.topic, pending.payload))

    threads = [threading.Thread(target=handle) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return answers


def test_twins_on_two_workers_debit_once_and_get_the_same_bytes(fleet):
    wire, card = _terminal(fleet)
    for _ in range(5):
        pending = wire.debit(card, 100, "books")
        answers = _race(fleet, pending)
        payloads = {out[0][1] for out in answers}
        assert len(answers) == 3 and len(payloads) == 1
        assert WireTerminal.read_result(pending, payloads.pop())["st"] == "approved"
    assert _balance_and_operations(fleet) == (10_000 - 500, 5)
