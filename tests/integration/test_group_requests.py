"""A group of queued requests read and written as a group (PostgreSQL: sql_request_unit._InGroup
and reference_ledger/within.GroupWithin) gives what handling them one at a time gives: the same
results, balances, operations and stored bytes; a conflict found when the group's writes are
made rolls the whole group back and each request is handled again on its own."""

import logging
import random
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, func, select

from fleet_server.ledger.port import DebitRequest
from fleet_server.reference_ledger.tables import IdempotencyRow, OperationRow, PotRow
from simulator.wire_terminal import WireTerminal
from tests.integration import test_request_unit as _unit
from tests.integration.test_request_unit import _balance_and_operations, _Commits, _terminal

fleet = _unit.fleet  # the same fixture: SQLite and PostgreSQL


def _batch(fleet, pendings) -> list[dict | None]:
    outs = fleet.dispatcher.batch([(p.topic, p.payload) for p in pendings])
    return [WireTerminal.read_result(p, out[0][1]) if out else None
            for p, out in zip(pendings, outs, strict=True)]


def _statements(fleet):
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        seen.append(statement.split()[0].upper())

    event.listen(fleet.engine, "before_cursor_execute", count)
    return seen, lambda: event.remove(fleet.engine, "before_cursor_execute", count)


def test_a_group_of_card_debits_takes_the_same_few_statements_whatever_its_size(fleet):
    first, first_card = _terminal(fleet)
    partner = fleet.dispatcher.requests.store.load(first.device_id, 0)[0].partner_id
    terminals = [(first, first_card)] + [
        _terminal(fleet, card_digits=f"{n}2345678901", partner=partner) for n in range(2, 9)]
    _batch(fleet, [t.debit(card, 100, "books") for t, card in terminals[:2]])  # warm
    pendings = [t.debit(card, 250, "books") for t, card in terminals]
    seen, stop = _statements(fleet)
    try:
        with _Commits(fleet.engine) as commits:
            results = _batch(fleet, pendings)
    finally:
        stop()
    assert [r["st"] for r in results] == ["approved"] * 8
    assert [r["bal"] for r in results] == [9_650, 9_650] + [9_750] * 6
    assert commits.count == 1
    assert _balance_and_operations(fleet) == (8 * 10_000 - 2 * 100 - 8 * 250, 10)
    if fleet.engine.dialect.name == "postgresql":
        # devices; partner; cards and pots; the money's writes; the requests and counters
        assert [s for s in seen if s != "BEGIN"] == ["SELECT", "SELECT", "SELECT", "WITH",
                                                     "WITH"]


def test_declines_in_a_group_are_stored_and_answered_again_with_the_same_bytes(fleet):
    (a, card_a), (b, card_b) = _terminal(fleet, balance=300), _terminal(
        fleet, card_digits="22345678901")
    too_much, fine = a.debit(card_a, 500, "books"), b.debit(card_b, 200, "books")
    first = fleet.dispatcher.batch([(p.topic, p.payload) for p in (too_much, fine)])
    assert WireTerminal.read_result(too_much, first[0][0][1])["code"] == "insufficient_balance"
    again = fleet.dispatcher(too_much.topic, too_much.payload)
    assert again[0][1] == first[0][0][1]
    with fleet.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(IdempotencyRow)).scalar() == 2
    assert _balance_and_operations(fleet) == (300 + 10_000 - 200, 1)


def test_a_key_taken_before_rolls_the_group_back_and_each_is_answered_once(fleet, caplog):
    # The ledger answered one request's key before its record was stored: the group's writes
    # find the key taken, the group is rolled back, each request is handled on its own.
    (a, card_a), (b, card_b) = _terminal(fleet), _terminal(fleet, card_digits="22345678901")
    pa, pb = a.debit(card_a, 400, "books"), b.debit(card_b, 300, "books")
    device = fleet.dispatcher.requests.store.load(a.device_id, 0)[0]
    earlier = fleet.ledger.debit(DebitRequest(
        idempotency_key=f"{a.device_id}:{a.initial_key_id.upper()}:{pa.seq}",
        partner_id=device.partner_id, token=card_a, amount_cents=400, category="books",
        requested_at=datetime.now(UTC), device_id=a.device_id))
    caplog.set_level(logging.INFO, logger="fleet.requests")
    ra, rb = _batch(fleet, [pa, pb])
    assert "group of 2 requests rolled back" in caplog.text
    assert (ra["st"], ra["op"]) == ("approved", earlier.operation_id)
    assert rb["st"] == "approved"
    assert _balance_and_operations(fleet) == (20_000 - 700, 2)


def test_a_void_in_a_group_then_a_debit_of_the_same_card_sees_the_money_back(fleet):
    a, card = _terminal(fleet, balance=1_000)
    partner = fleet.dispatcher.requests.store.load(a.device_id, 0)[0].partner_id
    b, _other = _terminal(fleet, card_digits="22345678901", partner=partner)
    sale = a.debit(card, 800, "books")
    assert _batch(fleet, [sale, b.debit(_other, 10, "books")])[0]["st"] == "approved"
    void, other_sale = a.void(sale.seq), b.debit(card, 900, "books")
    results = _batch(fleet, [void, other_sale])
    assert [r["st"] for r in results] == ["approved", "approved"]
    assert results[1]["bal"] == 100
    with fleet.engine.connect() as conn:
        pots = conn.execute(select(PotRow.balance_cents).order_by(PotRow.id)).scalars().all()
    assert pots == [100, 10_000 - 10]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_groups_keep_the_books_exact(fleet, seed, caplog):
    """Debits (some too large), voids, retransmissions, cards shared between terminals, in
    random groups: every request answered with the same bytes each time, one operation per
    approved debit, voided exactly when a void was approved, each pot its start less what
    its approved operations took; and no group needed rolling back."""
    caplog.set_level(logging.INFO, logger="fleet.requests")
    rng = random.Random(seed)
    partner, terminals, cards = None, [], []
    for n in range(4):
        wire, card = _terminal(fleet, balance=2_000, card_digits=f"{n + 1}2345678901",
                               partner=partner)
        partner = partner or fleet.dispatcher.requests.store.load(wire.device_id,
                                                                  0)[0].partner_id
        terminals.append(wire)
        cards.append(card)
    sent, answers, sales = [], {}, []
    for _round in range(12):
        group = []
        for _ in range(rng.randint(2, 8)):
            roll = rng.random()
            if roll < 0.15 and sent:
                group.append(rng.choice(sent[-10:]))  # a retransmission
            elif roll < 0.3 and sales:
                sale_wire, sale = sales.pop(rng.randrange(len(sales)))
                group.append(sale_wire.void(sale.seq))
            else:
                wire = rng.choice(terminals)
                sale = wire.debit(rng.choice(cards), rng.choice([100, 700, 1_500]), "books")
                group.append(sale)
                sales.append((wire, sale))
        outs = fleet.dispatcher.batch([(p.topic, p.payload) for p in group])
        for pending, out in zip(group, outs, strict=True):
            assert out, "every request is answered"
            key = (pending.topic, pending.seq)
            assert answers.setdefault(key, out[0][1]) == out[0][1], "same bytes again"
            sent.append(pending)
    assert "rolled back" not in caplog.text
    results = {key: WireTerminal.read_result(p, answers[key])
               for p in sent for key in [(p.topic, p.seq)]}
    approved = [(topic, r) for (topic, _seq), r in results.items() if r["st"] == "approved"]
    debits = {r["op"]: r["amt"] for topic, r in approved if topic.endswith("debit/req")}
    voided = {r["op"] for topic, r in approved if topic.endswith("void/req")}
    with fleet.engine.connect() as conn:
        operations = conn.execute(select(OperationRow.id, OperationRow.amount_cents,
                                         OperationRow.status, OperationRow.pot_id)).all()
        pots = dict(conn.execute(select(PotRow.id, PotRow.balance_cents)).all())
    assert {op.id: op.amount_cents for op in operations} == debits
    assert {op.id for op in operations if op.status == "voided"} == voided
    for pot_id, balance in pots.items():
        assert balance == 2_000 - sum(op.amount_cents for op in operations
                                      if op.pot_id == pot_id and op.status == "approved")
