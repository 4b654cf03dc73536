"""Exchange vouchers (bons d'échange) and ordered coupon series: issued by the operator."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, status
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, field_validator

from fleet_server.entrypoints.api.deps import (
    CardCode,
    Category,
    Cents,
    LedgerDep,
    MarketYear,
    OperatorDep,
    ProgramId,
    StrictModel,
    VoucherCode,
    code_path,
    id_path,
)
from protocol import tokens

router = APIRouter(tags=["vouchers"])


def _bounded(moment: datetime | None) -> datetime | None:
    # Far years would overflow when converted to UTC; no program runs that long.
    if moment is not None and not 2000 <= moment.year <= 2100:
        raise ValueError("a date between the years 2000 and 2100")
    return moment


Expiry = Annotated[AwareDatetime, AfterValidator(_bounded)]


class VoucherIn(StrictModel):
    program_id: ProgramId
    number: VoucherCode
    category: Category
    value_cents: Cents
    market_year: MarketYear
    expires_at: Expiry | None = None
    card_code: CardCode | None = Field(None, description="the beneficiary it was issued to")


class Coupon(StrictModel):
    number: VoucherCode
    value_cents: Cents


class CouponSeriesIn(StrictModel):
    """Coupons in the order they must be used (driving licence aid: 300, then 500, then 500)."""

    program_id: ProgramId
    category: Category
    market_year: MarketYear
    coupons: list[Coupon] = Field(min_length=1, max_length=20)
    card_code: CardCode | None = None
    expires_at: Expiry | None = None

    @field_validator("coupons")
    @classmethod
    def _distinct(cls, coupons: list[Coupon]) -> list[Coupon]:
        if len({c.number for c in coupons}) != len(coupons):
            raise ValueError("each coupon has its own number")
        return coupons


class SeriesOut(BaseModel):
    series_id: int
    numbers: list[str]


class VoucherState(BaseModel):
    number: str
    used: bool


@router.post("/vouchers", response_model=dict[str, str], status_code=status.HTTP_201_CREATED)
def create_voucher(ledger: LedgerDep, _: OperatorDep, body: VoucherIn):
    # A number in use or an unknown program: IntegrityError (409); unknown card: NotFound (404).
    number = ledger.create_voucher(body.program_id, body.number, body.category, body.value_cents,
                                   body.market_year, body.expires_at, body.card_code)
    return {"number": number}


@router.post("/coupon-series", response_model=SeriesOut, status_code=status.HTTP_201_CREATED)
def create_coupon_series(ledger: LedgerDep, _: OperatorDep, body: CouponSeriesIn):
    series_id = ledger.create_coupon_series(
        body.program_id, body.category, body.market_year,
        [(c.number, c.value_cents) for c in body.coupons], body.card_code, body.expires_at)
    return SeriesOut(series_id=series_id, numbers=[c.number for c in body.coupons])


@router.get("/vouchers/{number}", response_model=VoucherState)
def voucher_state(ledger: LedgerDep, _: OperatorDep,
                  number: Annotated[str, id_path(40)]):
    code = code_path(number, tokens.VOUCHER)
    return VoucherState(number=code, used=ledger.voucher_used(code))
