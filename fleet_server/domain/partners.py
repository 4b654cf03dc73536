"""Partners as the fleet server knows them: who a terminal belongs to, whom support calls.

The ledger keeps its own view (agreements, payment rights) and decides money questions; this
directory answers "may this partner's terminals sell at all" before the ledger is asked."""

from dataclasses import dataclass
from datetime import datetime


@dataclass
class Partner:
    partner_id: str
    name: str
    can_take_payments: bool = True  # False: a "deals only" partner records no transactions
    suspended: bool = False
    phone: str | None = None
    email: str | None = None
    address: str | None = None
    created_at: datetime | None = None

    def refusal(self) -> str | None:
        if not self.can_take_payments or self.suspended:
            return "partner_cannot_pay"
        return None
