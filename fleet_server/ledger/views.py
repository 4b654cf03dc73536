"""What the ledger's administration returns and raises (admin_port.LedgerAdministration), shared
by its implementation (fleet_server.reference_ledger) and the consoles and API that use it."""

from dataclasses import dataclass
from datetime import date, datetime


class NotFound(LookupError):
    """An administration call named a program, partner, card, pot or operation that is not there."""


class UnknownCategory(ValueError):
    """A code that is not in the managed list of categories."""

    def __init__(self, code: str):
        super().__init__(f"unknown category {code!r}: add it to the category list first")
        self.code = code


class CategoryInvalid(ValueError):
    """A category code or label that cannot be listed."""


CATEGORY_LABEL_MAX = 60  # characters of a category's French label


@dataclass(frozen=True)
class CategoryView:
    code: str
    label: str


@dataclass(frozen=True)
class PotView:
    category: str
    balance_cents: int
    per_purchase_cap_cents: int | None = None  # None: a "special pot"


@dataclass(frozen=True)
class OperationView:
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

    @classmethod
    def of(cls, row) -> "OperationView":
        """From any object with these attributes (the ledger's operation row)."""
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class ProgramView:
    id: str
    name: str
    market_year: int
    max_amount_cents: int | None


@dataclass(frozen=True)
class CardView:
    card_code: str
    name: str | None
    program_id: str
    blocked: bool
    pots: tuple[PotView, ...]


@dataclass(frozen=True)
class VoucherView:
    number: str
    program_id: str
    category: str
    value_cents: int
    market_year: int
    series_id: int | None
    rank: int | None
    used: bool
    card_code: str | None
    created_at: datetime


@dataclass(frozen=True)
class Holder:
    """Whose benefit an operation spent: the programme and the beneficiary's card (None for a
    voucher given to no one in particular)."""
    program_name: str
    card_code: str | None


@dataclass(frozen=True)
class BatchView:
    id: str
    partner_id: str
    day: date
    count: int
    total_cents: int
    status: str
    created_at: datetime
    status_at: datetime

    @classmethod
    def of(cls, row) -> "BatchView":
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})


class BatchError(ValueError):
    """The batch is not in a state that allows this change."""
