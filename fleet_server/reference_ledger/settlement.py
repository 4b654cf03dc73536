"""Nightly settlement ("télécollecte") of the reference ledger, and its CSV exports.

At midnight Europe/Paris each partner gets one batch of the day's approved, not voided, not yet
batched operations: a reimbursement request. A batched operation can no longer be voided; the
partner cancels the batch as a whole, which returns its operations to the operations list
(voidable again). The next nightly run batches every operation still pending before its cut-off,
whatever its day: those freed by a cancelled batch, and those committed after their day was
settled (a ledger that answered late, a retransmission resolved after midnight).

A day is a Paris day: its bounds are computed in Paris time, then converted to UTC, so the 23-
and 25-hour days of the DST changes are right. Who runs this and when (one instance among
several) is the scheduler's business, not this module's.
"""

import csv
import io
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import sessionmaker

from fleet_server.ledger.views import BatchError, BatchView, NotFound, OperationView
from fleet_server.reference_ledger import rules
from fleet_server.reference_ledger.admin import new_id, utcnow
from fleet_server.reference_ledger.tables import BatchRow, OperationRow

PARIS = ZoneInfo("Europe/Paris")
REQUESTED, PAID, CANCELLED = "requested", "paid", "cancelled"
_NO_SYNC = {"synchronize_session": False}


def paris_day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a Paris calendar day, in UTC."""
    start = datetime.combine(day, time(0), PARIS)
    end = datetime.combine(day + timedelta(days=1), time(0), PARIS)
    return start.astimezone(UTC), end.astimezone(UTC)


def paris_day(moment: datetime) -> date:
    return moment.astimezone(PARIS).date()


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


# CSV exports, as French partners' spreadsheets expect them: ";" between fields, decimal comma
# ("12,34"), dates dd/mm/yyyy in Paris time, UTF-8 with a byte order mark (without it Excel
# reads the accents as Latin-1), one header row.

CSV_BOM = "\ufeff"
_KIND_FR = {rules.KIND_CARD: "Carte", rules.KIND_VOUCHER: "Bon d'échange",
            rules.KIND_COUPON: "Coupon"}
_OP_STATUS_FR = {rules.OP_APPROVED: "Validée", rules.OP_VOIDED: "Annulée"}
_BATCH_STATUS_FR = {REQUESTED: "Remboursement demandé", PAID: "Payé", CANCELLED: "Annulé"}


def format_cents(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100},{abs(cents) % 100:02d}"


def _cell(value) -> str:
    text = "" if value is None else str(value)
    # A cell starting with = + - @ is a formula to a spreadsheet: a partner's internal
    # reference must not run as one on someone else's machine.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _paris(moment: datetime | None, fmt: str) -> str:
    return moment.astimezone(PARIS).strftime(fmt) if moment else ""


def _write(header: list[str], rows: Iterable[list]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return CSV_BOM + out.getvalue()


def operations_csv(operations: Iterable[OperationView],
                   category_labels: dict[str, str] | None = None, holders=None) -> str:
    """`category_labels` (code -> French label) names each category as partners know it;
    `holders` (operation id -> listings.Holder) gives the beneficiary's programme and card,
    in the last two columns so that the earlier ones keep their places."""
    labels, holders = category_labels or {}, holders or {}
    header = ["N° opération", "Date", "Heure", "Type", "Code", "Catégorie", "Millésime",
              "Montant (EUR)", "Statut", "Réf. interne", "Terminal", "N° lot",
              "Remboursement demandé le", "Programme", "Carte bénéficiaire"]
    return _write(header, ([
        op.id, _paris(op.created_at, "%d/%m/%Y"), _paris(op.created_at, "%H:%M:%S"),
        _KIND_FR.get(op.kind, op.kind), op.token, _cell(labels.get(op.category, op.category)),
        op.market_year,
        format_cents(op.amount_cents), _OP_STATUS_FR.get(op.status, op.status),
        _cell(op.internal_reference), _cell(op.device_id) if op.device_id else TILL,
        op.batch_id or "", _paris(op.reimbursement_requested_at, "%d/%m/%Y"),
        _cell(getattr(holders.get(op.id), "program_name", "")),
        getattr(holders.get(op.id), "card_code", None) or ""] for op in operations))


TILL = "Caisse en ligne"  # an operation without a terminal was typed in the online till


def batches_csv(batches: Iterable[BatchView]) -> str:
    header = ["N° lot", "Journée", "Partenaire", "Nombre d'opérations", "Montant (EUR)",
              "Statut", "Date du statut"]
    return _write(header, ([
        b.id, b.day.strftime("%d/%m/%Y"), _cell(b.partner_id), b.count,
        format_cents(b.total_cents), _BATCH_STATUS_FR.get(b.status, b.status),
        _paris(b.status_at, "%d/%m/%Y %H:%M")] for b in batches))
