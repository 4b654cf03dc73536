"""The category list: codes that pots, vouchers, coupon series and agreements use, with the
French label people see. Anyone with a token reads it; the operator adds and renames."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, Field

from fleet_server.entrypoints.api.deps import LedgerDep, OperatorDep, PrincipalDep, StrictModel
from fleet_server.ledger.views import CategoryInvalid

router = APIRouter(tags=["categories"])
CodePath = Annotated[str, Path(pattern=r"^[a-z0-9_-]{1,32}$")]


class CategoryOut(BaseModel):
    code: str
    label: str


class CategoryIn(StrictModel):
    label: str = Field(min_length=1, max_length=60)


@router.get("/categories", response_model=list[CategoryOut])
def list_categories(ledger: LedgerDep, _: PrincipalDep):
    return [c.__dict__ for c in ledger.categories()]


@router.put("/categories/{code}", response_model=CategoryOut)
def save_category(ledger: LedgerDep, _: OperatorDep, code: CodePath, body: CategoryIn):
    """Add a category, or rename one (its code never changes)."""
    try:
        return ledger.save_category(code, body.label).__dict__
    except CategoryInvalid as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(err)) from err
