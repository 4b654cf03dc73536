"""Operations (transactions): the partner's "Mes opérations" list with its filters, one
operation, its internal reference, cancelling it before reimbursement, and recording a sale
(what the online till will call).

Money moves only through the Ledger port (debit, void), with an idempotency key: the client's
`Idempotency-Key` header when it sends one (a retried request then does nothing twice), else a
random one. Lists and references use the ledger's administration port.
"""

import secrets
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

from fleet_server.domain.paris_days import paris_day, paris_day_bounds
from fleet_server.entrypoints.api.deps import (
    OPERATOR,
    PARTNER_ADMIN,
    PARTNER_ROLES,
    PARTNER_USER,
    AnyCode,
    Category,
    Cents,
    Day,
    FleetDep,
    LedgerDep,
    Limit,
    Offset,
    Page,
    PartnerId,
    Principal,
    StrictModel,
    declined,
    id_path,
    not_found,
    page_of,
    partner_scope,
    require,
    utcnow,
)
from fleet_server.ledger.port import LedgerUnavailable
from fleet_server.ledger.views import OperationView
from fleet_server.service_layer import online_till, operations

router = APIRouter(prefix="/transactions", tags=["transactions"])

OperationPath = Annotated[str, id_path(16)]
Search = Annotated[str, StringConstraints(strip_whitespace=True, max_length=40,
                                          pattern=r"^[^\x00-\x1f\x7f]*$")]
ShortId = Annotated[str, StringConstraints(min_length=1, max_length=24,
                                           pattern=r"^[A-Za-z0-9_.:-]+$")]
IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$",
    description="the same key sent again returns the first answer and moves nothing")]
MONEY_ROLES = (OPERATOR, *PARTNER_ROLES)  # support sees no money


class OperationFilters(BaseModel):
    """Days are Paris calendar days, both inclusive. `search`: a piece of the operation number,
    the card or voucher code, or the internal reference."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["approved", "voided"] | None = None
    start: Day | None = None
    end: Day | None = None
    partner_id: PartnerId | None = None
    device_id: ShortId | None = None
    search: Search | None = None
    batch_id: ShortId | None = None
    reimbursement_requested: bool | None = None

    @model_validator(mode="after")
    def _ordered(self):
        if self.start and self.end and self.start > self.end:
            raise ValueError("start is after end")
        return self


class OperationQuery(OperationFilters):
    limit: Limit = 50
    offset: Offset = 0


class OperationOut(BaseModel):
    id: str
    partner_id: str
    kind: str
    token: str
    category: str
    market_year: int
    amount_cents: int
    status: str
    auth_code: str
    device_id: str | None
    internal_reference: str | None
    created_at: datetime
    requested_at: datetime
    voided_at: datetime | None
    batch_id: str | None
    reimbursement_requested_at: datetime | None


class Reference(StrictModel):
    internal_reference: Annotated[str, StringConstraints(
        max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$")] | None


class SaleIn(StrictModel):
    code: AnyCode
    amount_cents: Cents
    category: Category | None = None


class LedgerAnswer(BaseModel):
    operation_id: str
    status: Literal["approved", "voided"]
    amount_cents: int
    balance_cents: int | None
    auth_code: str | None


def _today_start() -> datetime:
    return paris_day_bounds(paris_day(utcnow()))[0]


def ledger_filters(who: Principal, f: OperationFilters) -> dict:
    """The keyword arguments of LedgerAdministration.list_operations for this caller."""
    start_at = paris_day_bounds(f.start)[0] if f.start else None
    end_at = paris_day_bounds(f.end)[1] if f.end else None
    if who.role == PARTNER_USER:  # a counter clerk sees today's operations only
        start_at = max(start_at or _today_start(), _today_start())
    return dict(partner_id=partner_scope(who, f.partner_id), status=f.status, start_at=start_at,
                end_at=end_at, search=f.search or None, device_id=f.device_id,
                batch_id=f.batch_id, reimbursement_requested=f.reimbursement_requested)


def _visible(ledger, who: Principal, operation_id: str) -> OperationView:
    op = ledger.get_operation(operation_id, partner_id=who.partner_id if who.role in
                              PARTNER_ROLES else None)
    if op is None or (who.role == PARTNER_USER and op.created_at < _today_start()):
        raise not_found("operation")
    return op


@router.get("", response_model=Page[OperationOut])
def list_operations(ledger: LedgerDep, who: Annotated[Principal, require(*MONEY_ROLES)],
                    query: Annotated[OperationQuery, Query()]):
    ops = ledger.list_operations(**ledger_filters(who, query), limit=query.limit + 1,
                                 offset=query.offset)
    return page_of([o.__dict__ for o in ops], query.limit, query.offset)


@router.get("/{operation_id}", response_model=OperationOut)
def get_operation(ledger: LedgerDep, who: Annotated[Principal, require(*MONEY_ROLES)],
                  operation_id: OperationPath):
    return _visible(ledger, who, operation_id).__dict__


@router.put("/{operation_id}/internal-reference", response_model=OperationOut)
def set_internal_reference(ledger: LedgerDep, who: Annotated[Principal, require(
        OPERATOR, PARTNER_ADMIN)], operation_id: OperationPath, body: Reference):
    op = _visible(ledger, who, operation_id)
    return ledger.set_internal_reference(op.id, op.partner_id, body.internal_reference).__dict__


@router.post("/{operation_id}/cancel", response_model=LedgerAnswer)
def cancel_operation(ledger: LedgerDep, who: Annotated[Principal, require(OPERATOR,
                                                                          PARTNER_ADMIN)],
                     operation_id: OperationPath, idempotency_key: IdempotencyKey = None):
    """Cancel before reimbursement: 409 `void_not_allowed` once it is in a settlement batch
    (cancel the batch first), 409 `already_voided` the second time."""
    op = _visible(ledger, who, operation_id)
    # The operation id is part of the ledger's key: a key reused for another operation is a
    # new request, never the stored answer about the first one.
    key = f"api-void:{op.id}:{idempotency_key or secrets.token_hex(16)}"
    try:
        result = operations.cancel_operation(ledger, op.partner_id, op.id, key, utcnow())
    except operations.CancelRefused as err:
        if err.code == "void_unknown":
            raise not_found("operation") from err
        raise declined(err.code) from err
    return LedgerAnswer(operation_id=op.id, status="voided", amount_cents=result.amount_cents,
                        balance_cents=result.balance_cents, auth_code=result.auth_code)


@router.post("", response_model=LedgerAnswer, status_code=status.HTTP_201_CREATED)
def record_sale(fleet: FleetDep, who: Annotated[Principal, require(*PARTNER_ROLES)],
                body: SaleIn, idempotency_key: IdempotencyKey = None):
    """A sale at the counter without a terminal (the online till). A refusal is a 409 with the
    protocol's decline code and the French text the counter shows."""
    key = f"api-sale:{idempotency_key or secrets.token_hex(16)}"
    result = online_till.record_sale(fleet.uow, fleet.ledger, who.partner_id, body.code,
                                      body.amount_cents, body.category, key, utcnow())
    if result.code == "service_unavailable":
        raise LedgerUnavailable()  # 503, as everywhere in the API (api/__init__.py)
    if result.code == "replay":
        raise HTTPException(status.HTTP_409_CONFLICT,
                            "this Idempotency-Key was used for another sale")
    if not result.approved:
        raise declined(result.code)
    return LedgerAnswer(operation_id=result.operation_id, status="approved",
                        amount_cents=result.amount_cents, balance_cents=result.balance_cents,
                        auth_code=result.auth_code)
