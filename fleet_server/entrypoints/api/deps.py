"""What every route of the REST API shares: typed dependencies (FastAPI template style), the
access rules, and the small models and field types used across resources.

Access rules, in one place so every router applies them the same way:
- a role outside the route's list gets 403;
- a partner naming another partner (a `partner_id` in the path or a filter) gets 403: it
  asked for someone else's data by name;
- a partner naming an object (device, operation, batch) of another partner gets 404, exactly
  as if it did not exist: its existence is none of their business (the ledger's own rule for
  cancelling an unknown or foreign operation).
"""

from datetime import UTC, date, datetime
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from fleet_server.adapters.api_tokens import Principal, authenticate
from fleet_server.bootstrap import Fleet
from fleet_server.domain.roles import (
    OPERATOR,
    PARTNER_ADMIN,
    PARTNER_ROLES,
    PARTNER_USER,
    ROLES,
    SUPPORT,
)
from fleet_server.ledger.admin_port import LedgerAdministration
from protocol import errors, tokens
from protocol.errors import ProtocolError

__all__ = ["OPERATOR", "SUPPORT", "PARTNER_ADMIN", "PARTNER_USER", "PARTNER_ROLES", "Principal"]

ALL_ROLES = ROLES

# Field types. Identifiers are short and plain; free text has no control characters
# (PostgreSQL refuses NUL in text, and nothing we show needs them).
_ID = r"^[A-Za-z0-9_.:-]+$"
_TEXT = r"^[^\x00-\x1f\x7f]*$"
PartnerId = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=_ID)]
ProgramId = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=_ID)]
Category = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=_ID)]
MarketYear = Annotated[int, Field(strict=True, ge=2000, le=2100)]
# Cents are JSON integers, strictly: 1.5, "12" or true are refused, not rounded or coerced.
Cents = Annotated[int, Field(strict=True, gt=0, le=10_000_000)]
Balance = Annotated[int, Field(strict=True, ge=0, le=100_000_000)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120,
                                        pattern=_TEXT)]
# Days bounded so that the Paris-day arithmetic never leaves datetime's range.
Day = Annotated[date, Field(ge=date(2000, 1, 1), le=date(2100, 12, 31))]
PartnerPath = Annotated[str, Path(min_length=1, max_length=40, pattern=_ID)]


def id_path(max_length: int = 40):
    return Path(min_length=1, max_length=max_length, pattern=_ID)


class StrictModel(BaseModel):
    """Request bodies: unknown fields are a mistake worth reporting, not something to drop."""

    model_config = ConfigDict(extra="forbid")


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    limit: int
    offset: int
    next_offset: int | None = Field(None, description="offset of the next page; null: last page")


def page_of(items: list, limit: int, offset: int) -> dict:
    """Routes fetch limit + 1 rows: the extra one only says whether a next page exists."""
    more = len(items) > limit
    return {"items": items[:limit], "limit": limit, "offset": offset,
            "next_offset": offset + limit if more else None}


Limit = Annotated[int, Field(ge=1, le=500)]
Offset = Annotated[int, Field(ge=0, le=1_000_000)]


# Dependencies.

def get_fleet(request: Request) -> Fleet:
    return request.app.state.fleet


FleetDep = Annotated[Fleet, Depends(get_fleet)]

_bearer = HTTPBearer(auto_error=False, description="An API token: `fleet token issue` or "
                                                   "POST /api/v1/tokens (operator)")


def current_principal(fleet: FleetDep, credentials: Annotated[
        HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    principal = None
    if credentials is not None:
        principal = authenticate(fleet.session_factory, credentials.credentials)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing, unknown or revoked token",
                            headers={"WWW-Authenticate": "Bearer"})
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require(*roles: str):
    """`who: Annotated[Principal, require(OPERATOR, PARTNER_ADMIN)]`: 403 for other roles."""

    def check(principal: PrincipalDep) -> Principal:
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"a {principal.role} token may not do this")
        return principal

    return Depends(check)


OperatorDep = Annotated[Principal, require(OPERATOR)]


def reference_ledger(fleet: FleetDep) -> LedgerAdministration:
    # Administration (wallets, vouchers, operations lists, settlement) exists on the built-in
    # reference ledger only; an external ledger is administered where it runs.
    if fleet.ledger_admin is None:
        raise HTTPException(status.HTTP_501_NOT_IMPLEMENTED,
                            "the configured ledger is external: administer it there")
    return fleet.ledger_admin


LedgerDep = Annotated[LedgerAdministration, Depends(reference_ledger)]


# Access helpers.

def partner_scope(who: Principal, partner_id: str | None) -> str | None:
    """The partner a listing is limited to: a partner's own, whatever it asked for."""
    if who.role in PARTNER_ROLES:
        if partner_id is not None and partner_id != who.partner_id:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "another partner's data")
        return who.partner_id
    return partner_id


def check_own(who: Principal, owner_partner_id: str | None, what: str) -> None:
    """404 when a partner reaches an object that belongs to someone else."""
    if who.role in PARTNER_ROLES and owner_partner_id != who.partner_id:
        raise not_found(what)


def not_found(what: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"unknown {what}")


def declined(code: str, http_status: int = status.HTTP_409_CONFLICT) -> HTTPException:
    """A ledger refusal, with the protocol code and the French text the counter shows."""
    return HTTPException(http_status, {"code": code, "message": errors.text_fr(code),
                                       "reason": errors.text_en(code)})


def utcnow() -> datetime:
    return datetime.now(UTC)


def normalise_code(raw: str, kind: str | None = None) -> str:
    """A card or voucher code as scanned or typed -> its normalised form; ValueError (a 422
    in a body) when it is unreadable or of another kind."""
    try:
        found, code = tokens.parse_token(raw)
    except ProtocolError as err:
        raise ValueError(f"{errors.text_en(err.code)} ({err.code})") from err
    if kind is not None and found != kind:
        raise ValueError(f"a {kind} code is expected, this is a {found} code")
    return code


def code_path(raw: str, kind: str) -> str:
    """normalise_code for a path parameter: a 422 rather than an exception."""
    try:
        return normalise_code(raw, kind)
    except ValueError as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(err)) from err


RawCode = Annotated[str, StringConstraints(min_length=1, max_length=128)]
CardCode = Annotated[RawCode, AfterValidator(lambda v: normalise_code(v, tokens.CARD))]
VoucherCode = Annotated[RawCode, AfterValidator(lambda v: normalise_code(v, tokens.VOUCHER))]
AnyCode = Annotated[RawCode, AfterValidator(normalise_code)]
