"""Programs, beneficiaries and their wallets (pots per category): the operator's business.

Support and partners see no wallet: a balance is personal data, and the counter learns what it
needs (the balance left after a sale) from the sale's own answer.
"""

from typing import Annotated

from fastapi import APIRouter, status
from pydantic import BaseModel, Field, field_validator

from fleet_server.entrypoints.api.deps import (
    Balance,
    CardCode,
    Category,
    Cents,
    LedgerDep,
    MarketYear,
    Name,
    OperatorDep,
    ProgramId,
    StrictModel,
    code_path,
    id_path,
)
from fleet_server.ledger.views import PotView
from protocol import tokens

router = APIRouter(tags=["beneficiaries"])

CardPath = Annotated[str, id_path(40)]  # as printed: separators are dropped by code_path
CategoryPath = Annotated[str, id_path(32)]


class ProgramIn(StrictModel):
    name: Name
    market_year: MarketYear
    max_amount_cents: Cents | None = Field(None, description="most one sale may be")
    program_id: ProgramId | None = None


class PotIn(StrictModel):
    category: Category
    balance_cents: Balance
    per_purchase_cap_cents: Cents | None = Field(None, description="null: a special pot")


class BeneficiaryIn(StrictModel):
    program_id: ProgramId
    card_code: CardCode
    name: Name | None = None
    blocked: bool = False
    pots: list[PotIn] = Field(min_length=1, max_length=20)

    @field_validator("pots")
    @classmethod
    def _one_pot_per_category(cls, pots: list[PotIn]) -> list[PotIn]:
        if len({p.category for p in pots}) != len(pots):
            raise ValueError("one pot per category")
        return pots


class PotOut(BaseModel):
    category: str
    balance_cents: int
    per_purchase_cap_cents: int | None


class WalletOut(BaseModel):
    card_code: str
    pots: list[PotOut]


class Load(StrictModel):
    amount_cents: Cents


class LoadOut(BaseModel):
    card_code: str
    category: str
    balance_cents: int


class Blocking(StrictModel):
    blocked: bool


@router.post("/programs", response_model=dict[str, str], status_code=status.HTTP_201_CREATED)
def create_program(ledger: LedgerDep, _: OperatorDep, body: ProgramIn):
    program_id = ledger.create_program(body.name, body.market_year, body.max_amount_cents,
                                       program_id=body.program_id)
    return {"program_id": program_id}


@router.post("/beneficiaries", response_model=dict[str, str],
             status_code=status.HTTP_201_CREATED)
def create_beneficiary(ledger: LedgerDep, _: OperatorDep, body: BeneficiaryIn):
    # An unknown program is the ledger's NotFound (404); a card code in use an IntegrityError
    # (409): both mapped in api/__init__.py.
    beneficiary_id = ledger.create_beneficiary(
        body.program_id, body.card_code,
        [PotView(p.category, p.balance_cents, p.per_purchase_cap_cents) for p in body.pots],
        name=body.name, blocked=body.blocked)
    return {"beneficiary_id": beneficiary_id, "card_code": body.card_code}


@router.get("/beneficiaries/{card_code}/wallet", response_model=WalletOut)
def wallet(ledger: LedgerDep, _: OperatorDep, card_code: CardPath):
    code = code_path(card_code, tokens.CARD)
    return WalletOut(card_code=code, pots=[PotOut(**p.__dict__) for p in ledger.balances(code)])


@router.post("/beneficiaries/{card_code}/pots/{category}/load", response_model=LoadOut)
def load_pot(ledger: LedgerDep, _: OperatorDep, card_code: CardPath, category: CategoryPath,
             body: Load):
    code = code_path(card_code, tokens.CARD)
    balance = ledger.load_pot(code, category, body.amount_cents)
    return LoadOut(card_code=code, category=category, balance_cents=balance)


@router.put("/beneficiaries/{card_code}/blocked", response_model=Blocking)
def set_blocked(ledger: LedgerDep, _: OperatorDep, card_code: CardPath, body: Blocking):
    ledger.set_beneficiary_blocked(code_path(card_code, tokens.CARD), body.blocked)
    return body
