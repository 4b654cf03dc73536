"""Settlement batches (reimbursement requests, "télécollectes") and the CSV exports.

The operator runs a day's settlement by hand (the scheduler does it every night); a partner
admin follows its own batches, cancels one as a whole (its operations become cancellable
again), and exports its operations and batches as CSV.
"""

from collections.abc import Iterator
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, model_validator

from fleet_server.domain.paris_days import paris_day
from fleet_server.entrypoints.api.deps import (
    OPERATOR,
    PARTNER_ADMIN,
    Day,
    LedgerDep,
    Limit,
    Offset,
    OperatorDep,
    Page,
    PartnerId,
    Principal,
    StrictModel,
    id_path,
    not_found,
    page_of,
    partner_scope,
    require,
    utcnow,
)
from fleet_server.entrypoints.api.transactions import OperationFilters, ledger_filters
from fleet_server.ledger import exports
from fleet_server.ledger.admin_port import LedgerAdministration
from fleet_server.ledger.views import BatchError, NotFound

router = APIRouter(tags=["settlements"])

BatchPath = Annotated[str, id_path(16)]
FollowerDep = Annotated[Principal, require(OPERATOR, PARTNER_ADMIN)]
EXPORT_PAGE, EXPORT_MAX = 1000, 100_000  # rows per ledger query; most rows in one export


class BatchFilters(BaseModel):
    """`day_from` and `day_to` are Paris days, both inclusive."""

    model_config = ConfigDict(extra="forbid")
    partner_id: PartnerId | None = None
    status: Literal["requested", "paid", "cancelled"] | None = None
    day_from: Day | None = None
    day_to: Day | None = None

    @model_validator(mode="after")
    def _ordered(self):
        if self.day_from and self.day_to and self.day_from > self.day_to:
            raise ValueError("day_from is after day_to")
        return self


class BatchQuery(BatchFilters):
    limit: Limit = 50
    offset: Offset = 0


class BatchOut(BaseModel):
    id: str
    partner_id: str
    day: date
    count: int
    total_cents: int
    status: str
    created_at: datetime
    status_at: datetime


class RunIn(StrictModel):
    day: Day


def _batches(ledger: LedgerAdministration, who: Principal, f: BatchFilters):
    # Every route here depends on LedgerDep, which answers 501 when the ledger is an external
    # one (its batches are kept where it runs).
    return ledger.list_batches(partner_scope(who, f.partner_id), f.status, f.day_from,
                               f.day_to)


def _csv(text: str, name: str) -> Response:
    stamp = paris_day(utcnow()).strftime("%Y%m%d")
    return Response(text, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{name}-{stamp}.csv"'})


@router.get("/settlements", response_model=Page[BatchOut])
def list_batches(ledger: LedgerDep, who: FollowerDep, query: Annotated[BatchQuery, Query()]):
    # list_batches has no limit yet: batches are one per partner and day, so few per query.
    batches = _batches(ledger, who, query)
    chunk = batches[query.offset:query.offset + query.limit + 1]
    return page_of([b.__dict__ for b in chunk], query.limit, query.offset)


@router.post("/settlements/run", response_model=list[BatchOut],
             status_code=status.HTTP_201_CREATED)
def run_settlement(ledger: LedgerDep, _: OperatorDep, body: RunIn):
    """Settle one Paris day now; today too, to close it early (operations made later today
    form another batch when the day is settled again). Returns the batches it created."""
    if body.day > paris_day(utcnow()):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "that day has not begun")
    return [b.__dict__ for b in ledger.run_settlement(body.day)]


def _change(who: Principal, batch_id: str, change) -> dict:
    partner_id = who.partner_id if who.role == PARTNER_ADMIN else None
    try:
        return change(batch_id, partner_id).__dict__
    except NotFound as err:
        raise not_found("batch") from err
    except BatchError as err:
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from err


@router.post("/settlements/{batch_id}/cancel", response_model=BatchOut)
def cancel_batch(ledger: LedgerDep, who: FollowerDep, batch_id: BatchPath):
    """Cancel a whole reimbursement request: its operations go back to the operations list."""
    return _change(who, batch_id, ledger.cancel_batch)


@router.post("/settlements/{batch_id}/paid", response_model=BatchOut)
def mark_paid(ledger: LedgerDep, who: OperatorDep, batch_id: BatchPath):
    return _change(who, batch_id, lambda bid, _partner: ledger.mark_batch_paid(bid))


def _all_operations(ledger: LedgerAdministration, filters: dict) -> Iterator:
    for offset in range(0, EXPORT_MAX, EXPORT_PAGE):
        page = ledger.list_operations(**filters, limit=EXPORT_PAGE, offset=offset)
        yield from page
        if len(page) < EXPORT_PAGE:
            return


@router.get("/exports/operations.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}})
def export_operations(ledger: LedgerDep, who: FollowerDep,
                      query: Annotated[OperationFilters, Query()]):
    """The operations list with the same filters, as a CSV file (";", decimal comma)."""
    rows = _all_operations(ledger, ledger_filters(who, query))
    return _csv(exports.operations_csv(rows, ledger.category_labels()), "operations")


@router.get("/exports/batches.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}})
def export_batches(ledger: LedgerDep, who: FollowerDep,
                   query: Annotated[BatchFilters, Query()]):
    return _csv(exports.batches_csv(_batches(ledger, who, query)), "reimbursements")
