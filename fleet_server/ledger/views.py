"""What the ledger's administration returns and raises (admin_port.LedgerAdministration), shared
by its implementation (fleet_server.reference_ledger) and the consoles and API that use it."""

from dataclasses import dataclass
from datetime import datetime


class NotFound(LookupError):
    """An administration call named a program, partner, card, pot or operation that is not there."""


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
