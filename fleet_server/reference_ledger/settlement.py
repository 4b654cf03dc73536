"""Nightly settlement ("télécollecte") of the reference ledger.

At midnight Europe/Paris each partner gets one batch of the day's approved, not voided, not yet
batched operations: a reimbursement request. A batched operation can no longer be voided; the
partner cancels the batch as a whole, which returns its operations to the operations list
(voidable again). The next nightly run batches every operation still pending before its cut-off,
whatever its day: those freed by a cancelled batch, and those committed after their day was
settled (a ledger that answered late, a retransmission resolved after midnight).

A day is a Paris day (domain/paris_days.py). The CSV exports of operations and batches are
ledger/exports.py, over the administration port's views. Who runs this and when (one instance
among several) is the scheduler's business, not this module's.
"""

from collections.abc import Callable
from datetime import date, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import sessionmaker

from fleet_server.domain.paris_days import PARIS, paris_day, paris_day_bounds
from fleet_server.ledger.statuses import BATCH_CANCELLED as CANCELLED
from fleet_server.ledger.statuses import BATCH_PAID as PAID
from fleet_server.ledger.statuses import BATCH_REQUESTED as REQUESTED
from fleet_server.ledger.views import BatchError, BatchView, NotFound
from fleet_server.reference_ledger import rules
from fleet_server.reference_ledger.admin import new_id, utcnow
from fleet_server.reference_ledger.tables import BatchRow, OperationRow

# The Paris days, the batch statuses and BatchError stay importable from here, beside the runs
# that use them.
__all__ = ["CANCELLED", "PAID", "PARIS", "REQUESTED", "BatchError", "cancel_batch",
           "list_batches", "mark_batch_paid", "paris_day", "paris_day_bounds", "run_settlement",
           "settle_before", "unsettled_days"]
_NO_SYNC = {"synchronize_session": False}


def _pending(start: datetime | None, end: datetime):
    cond = [OperationRow.status == rules.OP_APPROVED, OperationRow.batch_id.is_(None),
            OperationRow.created_at < end]
    if start is not None:
        cond.append(OperationRow.created_at >= start)
    return cond


def run_settlement(session_factory: sessionmaker, day: date,
                   clock: Callable[[], datetime] = utcnow) -> list[BatchView]:
    """Batch the Paris day's pending operations, one batch per partner; returns the new batches.
    Running it again creates nothing, unless operations came back from a cancelled batch (or
    committed after the first run), which then form a new batch."""
    start, end = paris_day_bounds(day)
    now, created = clock(), []
    with session_factory() as s, s.begin():
        partners = s.scalars(select(OperationRow.partner_id).where(*_pending(start, end))
                             .distinct()).all()
        for partner_id in sorted(partners):
            batch = BatchRow(id=new_id("LT"), partner_id=partner_id, day=day, count=0,
                             total_cents=0, status=REQUESTED, created_at=now, status_at=now)
            s.add(batch)
            s.flush()
            # The same conditions again in the UPDATE: a void or another run that got there
            # first (row locks on PostgreSQL, one writer on SQLite) keeps its operation.
            s.execute(update(OperationRow)
                      .where(OperationRow.partner_id == partner_id, *_pending(start, end))
                      .values(batch_id=batch.id, reimbursement_requested_at=now),
                      execution_options=_NO_SYNC)
            count, total = s.execute(
                select(func.count(), func.coalesce(func.sum(OperationRow.amount_cents), 0))
                .where(OperationRow.batch_id == batch.id)).one()
            if count == 0:
                s.delete(batch)
                continue
            batch.count, batch.total_cents = count, int(total)
            created.append(BatchView.of(batch))
    return created


def settle_before(session_factory: sessionmaker, cutoff: date,
                  clock: Callable[[], datetime] = utcnow) -> list[BatchView]:
    """Batch every operation still pending before Paris midnight starting `cutoff`: one batch
    per partner and day of the operations, as the nightly run does."""
    created = []
    for day in unsettled_days(session_factory, cutoff):
        created.extend(run_settlement(session_factory, day, clock))
    return created


def _change_status(session_factory, batch_id, partner_id, new_status, clock) -> BatchView:
    with session_factory() as s, s.begin():
        batch = s.scalar(select(BatchRow).where(BatchRow.id == batch_id).with_for_update())
        if batch is None or (partner_id is not None and batch.partner_id != partner_id):
            raise NotFound("unknown batch")
        if batch.status != REQUESTED:
            raise BatchError(f"batch {batch_id} is {batch.status}; only a requested batch "
                             f"can become {new_status}")
        if new_status == CANCELLED:
            s.execute(update(OperationRow).where(OperationRow.batch_id == batch_id)
                      .values(batch_id=None, reimbursement_requested_at=None),
                      execution_options=_NO_SYNC)
        batch.status, batch.status_at = new_status, clock()
        return BatchView.of(batch)


def cancel_batch(session_factory: sessionmaker, batch_id: str, partner_id: str | None = None,
                 clock: Callable[[], datetime] = utcnow) -> BatchView:
    """Cancel a whole reimbursement request: its operations become voidable again."""
    return _change_status(session_factory, batch_id, partner_id, CANCELLED, clock)


def mark_batch_paid(session_factory: sessionmaker, batch_id: str,
                    clock: Callable[[], datetime] = utcnow) -> BatchView:
    return _change_status(session_factory, batch_id, None, PAID, clock)


def list_batches(session_factory: sessionmaker, partner_id: str | None = None,
                 status: str | None = None, day_from: date | None = None,
                 day_to: date | None = None) -> list[BatchView]:
    """Newest day first; `day_from` and `day_to` are inclusive."""
    q = select(BatchRow)
    if partner_id is not None:
        q = q.where(BatchRow.partner_id == partner_id)
    if status is not None:
        q = q.where(BatchRow.status == status)
    if day_from is not None:
        q = q.where(BatchRow.day >= day_from)
    if day_to is not None:
        q = q.where(BatchRow.day <= day_to)
    with session_factory() as s:
        rows = s.scalars(q.order_by(BatchRow.day.desc(), BatchRow.created_at.desc()))
        return [BatchView.of(r) for r in rows]


def unsettled_days(session_factory: sessionmaker, before: date) -> list[date]:
    """Paris days before `before` that still have pending operations: what a scheduler that
    was down at midnight, a cancelled batch or a late commit left to settle."""
    end, _ = paris_day_bounds(before)
    with session_factory() as s:
        # Distinct instants: after a nightly run only the few operations left out are read.
        moments = s.scalars(select(OperationRow.created_at).where(*_pending(None, end))
                            .distinct())
        return sorted({paris_day(m) for m in moments})
