"""The debit path in one transaction with the built-in ledger (SqlRequestUnit): one commit per
debit, one per group of queued requests (Dispatcher.batch), and twins of one request racing on
two workers still move money once and get the same bytes, on SQLite and PostgreSQL."""

import threading
from datetime import UTC, datetime
from functools import partial

import pytest
from sqlalchemy import event, func, select

from fleet_server.bootstrap import bootstrap
from fleet_server.domain.partners import Partner
from fleet_server.domain.requests import ANSWERED, DEBIT, StoredRequest
from fleet_server.ledger.port import DebitRequest
from fleet_server.reference_ledger import rules
from fleet_server.reference_ledger.reference import PotView
from fleet_server.reference_ledger.tables import OperationRow, PotRow
from fleet_server.service_layer import registry
from fleet_server.service_layer.unit_of_work import RetryRequest
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


def _terminal(fleet, balance=10_000, card_digits="12345678901", partner=None):
    ledger, now = fleet.ledger, datetime.now(UTC)
    if partner is None:
        partner = ledger.create_partner("Librairie")
        registry.add_partner(fleet.uow(), Partner(partner, "Librairie"))
    program = ledger.create_program("P", 2026, max_amount_cents=30000)
    agreement = ledger.create_agreement(partner, program, "books", 2026)
    ledger.set_agreement_status(agreement, rules.ACCEPTED)
    ledger.set_agreement_status(agreement, rules.SIGNED)
    card = tokens.make_card(card_digits)
    ledger.create_beneficiary(program, card, [PotView("books", balance, None)])
    secrets = registry.register_device(fleet.uow(), fleet.keys, "t", now)
    registry.assign_device(fleet.uow(), secrets.device_id, partner)
    registry.change_state(fleet.uow(), secrets.device_id, "activate")
    wire = WireTerminal(secrets.device_id, secrets.initial_key_id,
                        bytes.fromhex(secrets.initial_key_hex))
    return wire, card


def _balance_and_operations(fleet):
    with fleet.engine.connect() as conn:
        balance = conn.execute(select(func.sum(PotRow.balance_cents))).scalar()
        operations = conn.execute(select(func.count()).select_from(OperationRow)).scalar()
    return balance, operations


class _Commits:
    def __init__(self, engine):
        self.engine, self.count = engine, 0

    def _seen(self, _conn):
        self.count += 1

    def __enter__(self):
        event.listen(self.engine, "commit", self._seen)
        return self

    def __exit__(self, *_exc):
        event.remove(self.engine, "commit", self._seen)


def test_the_built_in_ledger_runs_in_the_requests_transaction(fleet):
    assert fleet.dispatcher.requests.unit is not None


def test_one_debit_is_one_commit(fleet):
    wire, card = _terminal(fleet)
    pending = wire.debit(card, 250, "books")
    with _Commits(fleet.engine) as commits:
        out = fleet.dispatcher(pending.topic, pending.payload)
    assert WireTerminal.read_result(pending, out[0][1])["st"] == "approved"
    assert commits.count == 1
    assert _balance_and_operations(fleet) == (10_000 - 250, 1)


def test_a_card_debit_takes_a_handful_of_statements(fleet):
    wire, card = _terminal(fleet)
    fleet.dispatcher(*_topic_payload(wire.debit(card, 100, "books")))  # warm
    pending = wire.debit(card, 250, "books")
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        seen.append(statement.split()[0].upper())

    event.listen(fleet.engine, "before_cursor_execute", count)
    try:
        out = fleet.dispatcher(pending.topic, pending.payload)
    finally:
        event.remove(fleet.engine, "before_cursor_execute", count)
    assert WireTerminal.read_result(pending, out[0][1])["st"] == "approved"
    assert _balance_and_operations(fleet) == (10_000 - 350, 2)
    # device and stored requests; partner; card and pots; then the writes: on PostgreSQL the
    # pot, operation and idempotency record in one statement, the request and counter in
    # another; on SQLite one each (BEGIN IMMEDIATE first).
    writes = (["WITH", "WITH"] if fleet.engine.dialect.name == "postgresql"
              else ["UPDATE", "INSERT", "INSERT", "INSERT", "UPDATE"])
    assert [s for s in seen if s != "BEGIN"] == ["SELECT", "SELECT", "SELECT", *writes]


def _topic_payload(pending) -> tuple[str, bytes]:
    return pending.topic, pending.payload


def _race(fleet, pending, workers=3) -> list:
    return _run_together([partial(fleet.dispatcher, pending.topic, pending.payload)] * workers)


def _run_together(calls) -> list:
    answers, start = [None] * len(calls), threading.Barrier(len(calls))

    def handle(index):
        start.wait()
        answers[index] = calls[index]()

    threads = [threading.Thread(target=handle, args=(i,)) for i in range(len(calls))]
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



def test_a_group_of_queued_requests_is_one_commit_in_order(fleet):
    (a, card_a), (b, card_b) = _terminal(fleet), _terminal(fleet, card_digits="22345678901")
    first, second, other = (a.debit(card_a, 100, "books"), a.debit(card_a, 200, "books"),
                            b.debit(card_b, 300, "books"))
    sent = (first, other, second, first)
    with _Commits(fleet.engine) as commits:
        outs = fleet.dispatcher.batch([(p.topic, p.payload) for p in sent])
    assert commits.count == 1
    results = [WireTerminal.read_result(p, out[0][1]) for p, out in zip(sent, outs, strict=True)]
    assert [r["st"] for r in results] == ["approved"] * 4
    assert [r["bal"] for r in results] == [9_900, 9_700, 9_700, 9_900]
    assert outs[0] == outs[3]  # the retransmission queued behind its original: same bytes
    assert _balance_and_operations(fleet) == (20_000 - 600, 3)


def test_groups_racing_on_a_twin_roll_back_and_still_debit_once(fleet):
    (a, card_a), (b, card_b) = _terminal(fleet), _terminal(fleet, card_digits="22345678901")
    c, card_c = _terminal(fleet, card_digits="32345678901")
    for _ in range(3):
        pa, pb, pc = (a.debit(card_a, 100, "books"), b.debit(card_b, 100, "books"),
                      c.debit(card_c, 100, "books"))
        groups = [[(p.topic, p.payload) for p in group] for group in ((pa, pb), (pb, pc))]
        one, two = _run_together([partial(fleet.dispatcher.batch, g) for g in groups])
        assert one[1] == two[0]  # the twin's answers: the same bytes
        for pending, out in ((pa, one[0]), (pb, one[1]), (pc, two[1])):
            assert WireTerminal.read_result(pending, out[0][1])["st"] == "approved"
    assert _balance_and_operations(fleet) == (30_000 - 900, 9)


def test_a_key_the_ledger_answered_before_gets_that_answer_and_moves_no_more_money(fleet):
    # A request whose ledger debit committed while its result was never stored (the server
    # stopped in between, before requests and money shared a transaction): no request record,
    # the key taken. The first attempt's INSERT of the key conflicts; the careful one reads it.
    wire, card = _terminal(fleet)
    pending = wire.debit(card, 400, "books")
    device = fleet.dispatcher.requests.store.load(wire.device_id, 0)[0]
    earlier = fleet.ledger.debit(DebitRequest(
        idempotency_key=f"{wire.device_id}:{wire.initial_key_id.upper()}:{pending.seq}",
        partner_id=device.partner_id, token=card, amount_cents=400, category="books",
        requested_at=datetime.now(UTC), device_id=wire.device_id))
    out = fleet.dispatcher(pending.topic, pending.payload)
    result = WireTerminal.read_result(pending, out[0][1])
    assert (result["st"], result["op"], result["auth"]) == (
        "approved", earlier.operation_id, earlier.auth_code)
    assert _balance_and_operations(fleet) == (10_000 - 400, 1)


def test_counters_above_two_to_the_31_are_stored_and_raise_the_highest(fleet):
    # DUKPT counters go up to 0xFFFF0000: the counter columns and parameters are 64-bit.
    wire, _card = _terminal(fleet)
    store = fleet.dispatcher.requests.store
    device = store.load(wire.device_id, 0)[0]
    seq = 0xF0000000
    record = StoredRequest(
        device_id=wire.device_id, seq=seq, kind=DEBIT, status=ANSWERED,
        created_at=datetime.now(UTC), partner_id=device.partner_id, amount_cents=0,
        key_id=wire.initial_key_id.upper(), result_payload=b"{}",
        ledger_key=f"{wire.device_id}:{wire.initial_key_id.upper()}:{seq}")
    with fleet.dispatcher.requests.unit() as (bound, _ledger):
        bound.save(record, True)
    device, _partner, stored, _sale = store.load(wire.device_id, seq,
                                                 key_id=wire.initial_key_id.upper())
    assert device.highest_seq == seq and stored.seq == seq


def test_a_request_stored_twice_is_a_lost_race(fleet):
    wire, _card = _terminal(fleet)
    device = fleet.dispatcher.requests.store.load(wire.device_id, 0)[0]
    record = StoredRequest(
        device_id=wire.device_id, seq=7, kind=DEBIT, status=ANSWERED,
        created_at=datetime.now(UTC), partner_id=device.partner_id, amount_cents=0,
        key_id=wire.initial_key_id.upper(), result_payload=b"{}")
    with fleet.dispatcher.requests.unit() as (bound, _ledger):
        bound.save(record, True)
    with pytest.raises(RetryRequest):
        with fleet.dispatcher.requests.unit() as (bound, _ledger):
            bound.save(record, True)
