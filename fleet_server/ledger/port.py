"""The one interface through which the fleet server moves money.

In production the ledger is an external system; the embedded default is the reference ledger.
Both adapters pass tests/integration/ledger/ (one contract suite). Codes in results are the
protocol's decline codes (protocol.errors), so the terminal can show them as they are.
"""

import abc
from dataclasses import dataclass
from datetime import datetime

APPROVED = "approved"
DECLINED = "declined"


@dataclass(frozen=True)
class DebitRequest:
    idempotency_key: str  # "<device_id>:<seq>" from terminals; any unique string otherwise
    partner_id: str
    token: str  # normalised card or voucher code (protocol.tokens.parse_token)
    amount_cents: int
    category: str | None  # None: the ledger picks the only category the code allows
    requested_at: datetime  # UTC, aware
    device_id: str | None = None


@dataclass(frozen=True)
class VoidRequest:
    idempotency_key: str
    partner_id: str
    operation_id: str
    requested_at: datetime


@dataclass(frozen=True)
class LedgerResult:
    status: str  # APPROVED or DECLINED
    code: str | None = None  # protocol decline code when declined
    # Approved: the amount moved. Declined: the amount the ledger would take instead when
    # there is one (a voucher's value for "voucher_amount", the pot's cap for
    # "over_purchase_cap"), else 0; the terminal shows it and pre-fills a voucher's value.
    amount_cents: int = 0
    balance_cents: int | None = None  # what is left in the pot, when it is a pot
    operation_id: str | None = None
    auth_code: str | None = None

    @property
    def approved(self) -> bool:
        return self.status == APPROVED


@dataclass(frozen=True)
class CodeInfo:
    """What a voucher or coupon code is worth to a partner now (a lookup: nothing moves).
    The terminal shows the value before the clerk types anything; the debit is still decided
    by the ledger when it comes."""

    code: str | None  # the decline code a debit of its value would get now; None: usable
    value_cents: int = 0  # 0 when the code is unknown
    category: str | None = None

    @property
    def usable(self) -> bool:
        return self.code is None


class LedgerUnavailable(Exception):
    """The ledger could not be reached or did not answer in time: nothing was decided."""


class Conflict(Exception):
    """A ledger run inside its caller's transaction (the reference ledger's within()) met a
    concurrent change: the caller must roll its whole transaction back and start over."""


class Ledger(abc.ABC):
    """Debits and voids are idempotent: the same idempotency key always gets the same result,
    however many times it is sent, and moves money at most once."""

    @abc.abstractmethod
    def debit(self, request: DebitRequest) -> LedgerResult: ...

    @abc.abstractmethod
    def void(self, request: VoidRequest) -> LedgerResult: ...

    def lookup(self, partner_id: str, token: str) -> CodeInfo:
        """A voucher or coupon code's value, category, and whether `partner_id` may debit it
        now (read-only: no idempotency record, no lock held past the read). Not abstract: a
        ledger without it answers LedgerUnavailable and terminals type the amount as before."""
        raise LedgerUnavailable("this ledger does not look codes up")
