"""The settlement rule, over random histories: once a night's run is done, every approved, not
voided operation made before that midnight is in exactly one live batch (requested or paid),
whatever happened before: batches cancelled by the partner, operations voided, sales committed
after their day was settled, nights the server missed. SQLite and PostgreSQL."""

import itertools
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from fleet_server.bootstrap import bootstrap
from fleet_server.entrypoints import scheduler
from fleet_server.ledger.port import DebitRequest, VoidRequest
from fleet_server.reference_ledger import rules, settlement
from fleet_server.reference_ledger.reference import PotView, ReferenceLedger
from fleet_server.reference_ledger.tables import BatchRow, OperationRow
from fleet_server.settings import Settings
from protocol import tokens

LIVE = {settlement.REQUESTED, settlement.PAID}
FLEET = os.path.join(os.path.dirname(sys.executable), "fleet")


@pytest.fixture(params=["sqlite", "postgres"])
def fleet(request, tmp_path):
    url = (f"sqlite:///{tmp_path}/fleet.sqlite3" if request.param == "sqlite"
           else request.getfixturevalue("fresh_postgres_url"))
    instance = bootstrap(Settings(db_url=url, master_secret="settlement-rule-secret-0123456789",
                                  settlement_enabled=False))
    yield instance
    instance.close()


class Shop:
    """One partner selling from one card, on a clock the test moves; each history gets its own
    shop and its own stretch of time, so that histories sharing a database do not meet."""

    def __init__(self, fleet, start: datetime):
        self.fleet, self.sf, self.now = fleet, fleet.session_factory, start
        admin = fleet.ledger
        program = admin.create_program("Pass", start.year)
        self.partner = admin.create_partner("Librairie")
        agreement = admin.create_agreement(self.partner, program, "books", start.year)
        admin.set_agreement_status(agreement, rules.ACCEPTED)
        admin.set_agreement_status(agreement, rules.SIGNED)
        self.card = tokens.make_card(f"9731{uuid.uuid4().int % 10**7:07d}")
        admin.create_beneficiary(program, self.card, [PotView("books", 10_000_000, None)])

    def ledger_at(self, moment: datetime) -> ReferenceLedger:
        return ReferenceLedger(self.sf, clock=lambda: moment)

    def sale(self, hours_late: int) -> None:
        # A sale committed late carries the instant its request was made (a ledger that
        # answered after midnight, a retransmission resolved later): it may be before a cut-off
        # whose run is already done.
        at = self.now - timedelta(hours=hours_late)
        result = self.ledger_at(at).debit(DebitRequest(
            uuid.uuid4().hex, self.partner, self.card, 100, "books", at))
        assert result.approved

    def void(self, pick: int) -> None:
        ops = self.operations()
        if ops:
            op = ops[pick % len(ops)]
            self.ledger_at(self.now).void(VoidRequest(uuid.uuid4().hex, self.partner, op.id,
                                                      self.now))

    def cancel_batch(self, pick: int) -> None:
        live = [b for b in self.batches() if b.status == settlement.REQUESTED]
        if live:
            settlement.cancel_batch(self.sf, live[pick % len(live)].id, self.partner,
                                    clock=lambda: self.now)

    def tick(self) -> None:
        scheduler.run_due_settlements(self.fleet, now=self.now)

    def night(self, minutes_after: int) -> datetime:
        """Move to the next Paris midnight (plus a few minutes) and let the scheduler tick;
        returns the cut-off."""
        day = settlement.paris_day(self.now) + timedelta(days=1)
        cutoff = datetime.combine(day, time(0), settlement.PARIS).astimezone(UTC)
        self.now = cutoff + timedelta(minutes=minutes_after)
        self.tick()
        return cutoff

    def operations(self) -> list[OperationRow]:
        with self.sf() as s:
            return list(s.scalars(select(OperationRow).where(
                OperationRow.partner_id == self.partner).order_by(OperationRow.id)))

    def batches(self) -> list[BatchRow]:
        with self.sf() as s:
            return list(s.scalars(select(BatchRow).where(BatchRow.partner_id == self.partner)
                                  .order_by(BatchRow.id)))


def check_batches_are_consistent(shop: Shop) -> None:
    batches = {b.id: b for b in shop.batches()}
    ops = shop.operations()
    for op in ops:
        if op.batch_id is not None:
            assert op.status == rules.OP_APPROVED, "a voided operation sits in a batch"
            batch = batches[op.batch_id]
            assert batch.status in LIVE, "an operation sits in a cancelled batch"
            assert batch.day == settlement.paris_day(op.created_at)
    for batch in batches.values():
        members = [op for op in ops if op.batch_id == batch.id]
        if batch.status in LIVE:
            assert (batch.count, batch.total_cents) == (
                len(members), sum(op.amount_cents for op in members))
        else:
            assert not members


def check_everything_before_is_batched(shop: Shop, cutoff: datetime) -> None:
    batches = {b.id: b for b in shop.batches()}
    for op in shop.operations():
        if op.status == rules.OP_APPROVED and op.created_at < cutoff:
            assert op.batch_id is not None and batches[op.batch_id].status in LIVE, (
                f"operation {op.id} of {op.created_at} is in no live batch after the run "
                f"of the night of {cutoff}")
        if op.created_at >= cutoff:
            assert op.batch_id is None, "an operation after the cut-off was batched"


actions = st.lists(st.one_of(
    st.tuples(st.just("sale"), st.integers(0, 40)),
    st.tuples(st.just("void"), st.integers(0, 50)),
    st.tuples(st.just("cancel_batch"), st.integers(0, 10)),
    st.tuples(st.just("advance"), st.integers(1, 30)),
    st.tuples(st.just("tick"), st.just(0)),
    st.tuples(st.just("night"), st.integers(0, 59)),
), min_size=1, max_size=25)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=actions)
def test_after_each_nightly_run_every_operation_before_midnight_is_in_one_live_batch(
        fleet, history):
    # Histories are months apart: each example's nights are new to the scheduler's lock.
    number = next(_examples)
    shop = Shop(fleet, datetime(2026, 1, 1, 9, tzinfo=UTC) + timedelta(days=40 * number))
    for action, value in history:
        if action == "sale":
            shop.sale(value)
        elif action == "void":
            shop.void(value)
        elif action == "cancel_batch":
            shop.cancel_batch(value)
        elif action == "advance":
            shop.now += timedelta(hours=value)
        elif action == "tick":
            shop.tick()
        else:
            check_everything_before_is_batched(shop, shop.night(value))
        check_batches_are_consistent(shop)
    check_everything_before_is_batched(shop, shop.night(1))
    check_batches_are_consistent(shop)


_examples = itertools.count()


def test_a_cancelled_batch_is_settled_again_the_next_night(fleet):
    shop = Shop(fleet, datetime(2026, 11, 24, 9, tzinfo=UTC))
    shop.sale(0)
    shop.sale(0)
    shop.night(5)
    [batch] = shop.batches()
    settlement.cancel_batch(shop.sf, batch.id, shop.partner)
    shop.void(0)  # the partner cancelled the batch to void one sale
    shop.tick()  # the same day: the night's run is done, the freed sale waits for the next
    assert [op.batch_id for op in shop.operations()] == [None, None]
    cutoff = shop.night(3)
    check_everything_before_is_batched(shop, cutoff)
    [again] = [b for b in shop.batches() if b.status == settlement.REQUESTED]
    assert (again.day, again.count, again.total_cents) == (batch.day, 1, 100)


def test_the_operator_settles_a_day_again_after_its_batch_was_cancelled(fleet):
    shop = Shop(fleet, datetime(2026, 11, 24, 9, tzinfo=UTC))
    shop.sale(0)
    day = settlement.paris_day(shop.now)
    assert scheduler.run_due_settlements(fleet, day=day) == [f"{day}: 1 batch(es)"]
    [batch] = shop.batches()
    settlement.cancel_batch(shop.sf, batch.id, shop.partner)
    assert scheduler.run_due_settlements(fleet, day=day) == [f"{day}: 1 batch(es)"]
    assert scheduler.run_due_settlements(fleet, day=day) == [f"{day}: nothing left to settle"]


def test_fleet_settle_from_a_shell_settles_a_day_again_after_a_batch_cancel(tmp_path):
    # The operator's sequence from the bug report: settle a day, the partner cancels the batch
    # in Remboursements, settle the day again.
    url = f"sqlite:///{tmp_path}/fleet.sqlite3"
    fleet = bootstrap(Settings(db_url=url, master_secret="settlement-rule-secret-0123456789",
                               settlement_enabled=False))
    shop = Shop(fleet, datetime(2026, 11, 24, 9, tzinfo=UTC))
    shop.sale(0)
    env = {**os.environ, "FLEET_MASTER_SECRET": "settlement-rule-secret-0123456789"}

    def settle():
        done = subprocess.run([FLEET, "settle", "--day", "2026-11-24", "--db", url], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert settle() == "2026-11-24: 1 batch(es)"
    [batch] = shop.batches()
    settlement.cancel_batch(shop.sf, batch.id, shop.partner)
    assert settle() == "2026-11-24: 1 batch(es)"
    assert settle() == "2026-11-24: nothing left to settle"
    fleet.close()
