"""Partners (the directory support calls from) and their agreements ("conventions")."""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, StringConstraints
from sqlalchemy.exc import IntegrityError

from fleet_server.domain.partners import Partner
from fleet_server.entrypoints.api.deps import (
    OPERATOR,
    PARTNER_ADMIN,
    PARTNER_ROLES,
    SUPPORT,
    Category,
    FleetDep,
    LedgerDep,
    MarketYear,
    Name,
    OperatorDep,
    PartnerId,
    PartnerPath,
    Principal,
    ProgramId,
    StrictModel,
    id_path,
    not_found,
    partner_scope,
    require,
    utcnow,
)
from fleet_server.ledger import statuses
from fleet_server.service_layer import partners

router = APIRouter(tags=["partners"])

_TEXT = r"^[^\x00-\x1f\x7f]*$"
Phone = Annotated[str, StringConstraints(max_length=40, pattern=r"^[0-9+() .-]*$")]
Email = Annotated[str, StringConstraints(max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")]
Address = Annotated[str, StringConstraints(max_length=300, pattern=_TEXT)]
AgreementStatus = Literal["requested", "accepted", "signed", "terminated"]


class PartnerIn(StrictModel):
    partner_id: PartnerId | None = None  # default: a new id, the same in the ledger
    name: Name
    can_take_payments: bool = True
    phone: Phone | None = None
    email: Email | None = None
    address: Address | None = None


class PartnerOut(BaseModel):
    partner_id: str
    name: str
    can_take_payments: bool
    suspended: bool
    phone: str | None
    email: str | None
    address: str | None
    created_at: datetime | None

    @classmethod
    def of(cls, partner: Partner) -> "PartnerOut":
        return cls(**{name: getattr(partner, name) for name in cls.model_fields})


class AgreementIn(StrictModel):
    program_id: ProgramId
    category: Category
    market_year: MarketYear
    status: AgreementStatus = "requested"


class AgreementOut(BaseModel):
    id: str
    partner_id: str
    program_id: str
    category: str
    market_year: int
    status: str
    requested_at: datetime
    signed_at: datetime | None
    status_at: datetime


class StatusChange(StrictModel):
    status: AgreementStatus


@router.get("/partners", response_model=list[PartnerOut])
def list_partners(fleet: FleetDep, _: Annotated[Principal, require(OPERATOR, SUPPORT)]):
    with fleet.uow() as uow:
        return [PartnerOut.of(p) for p in uow.partners.list()]


@router.get("/partners/{partner_id}", response_model=PartnerOut)
def get_partner(fleet: FleetDep, who: Annotated[Principal, require(OPERATOR, SUPPORT,
                                                                   *PARTNER_ROLES)],
                partner_id: PartnerPath):
    partner_scope(who, partner_id)
    with fleet.uow() as uow:
        partner = uow.partners.get(partner_id)
        if partner is None:
            raise not_found("partner")
        return PartnerOut.of(partner)


@router.post("/partners", response_model=PartnerOut, status_code=status.HTTP_201_CREATED)
def add_partner(fleet: FleetDep, _: OperatorDep, body: PartnerIn):
    """409 (detail: "partner ID exists") when the id is taken; 422 {"code", "message"} for what
    the fields' types let through but the partner rules refuse (service_layer/partners.py)."""
    # The reference ledger keeps its own partner record under the same id (it decides payment
    # rights); an external ledger is told about partners on its side.
    ledger = fleet.ledger_admin
    try:
        partner = partners.create_partner(fleet.uow, ledger, partners.NewPartner(
            body.name, body.can_take_payments, body.phone, body.email, body.address,
            body.partner_id), utcnow())
    except partners.PartnerRefused as err:
        if err.code == "partner_exists":
            raise HTTPException(status.HTTP_409_CONFLICT, err.message) from err
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            {"code": err.code, "message": err.message}) from err
    return PartnerOut.of(partner)


@router.get("/partners/{partner_id}/agreements", response_model=list[AgreementOut])
def list_agreements(ledger: LedgerDep, who: Annotated[Principal, require(OPERATOR,
                                                                         *PARTNER_ROLES)],
                    partner_id: PartnerPath):
    partner_scope(who, partner_id)
    return ledger.agreements(partner_id)


@router.post("/partners/{partner_id}/agreements", response_model=AgreementOut,
             status_code=status.HTTP_201_CREATED)
def request_agreement(ledger: LedgerDep, who: Annotated[Principal, require(OPERATOR,
                                                                           PARTNER_ADMIN)],
                      partner_id: PartnerPath, body: AgreementIn):
    """A partner admin asks for an agreement (status "requested"); the operator may also
    record one already accepted or signed."""
    partner_scope(who, partner_id)
    if who.role != OPERATOR and body.status != statuses.REQUESTED:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only the operator decides an agreement")
    try:
        agreement_id = ledger.create_agreement(partner_id, body.program_id, body.category,
                                               body.market_year, body.status)
    except IntegrityError as err:  # a foreign key: the program or the partner is unknown
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            "unknown program, or a partner the ledger does not know") from err
    return next(a for a in ledger.agreements(partner_id) if a["id"] == agreement_id)


@router.post("/agreements/{agreement_id}/status", response_model=dict[str, str])
def set_agreement_status(ledger: LedgerDep, _: OperatorDep,
                         agreement_id: Annotated[str, id_path(16)], body: StatusChange):
    try:
        ledger.set_agreement_status(agreement_id, body.status)
    except ValueError as err:  # the life cycle does not allow it (NotFound is a LookupError)
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from err
    return {"id": agreement_id, "status": body.status}
