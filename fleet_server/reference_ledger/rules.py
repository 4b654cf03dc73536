"""Business rules of the reference ledger: plain dataclasses and pure decisions, no SQL, no clock.

The adapter (reference.py) loads the state a decision needs, asks `decide_debit` or `decide_void`,
and applies the answer with conditional UPDATEs. Every refusal is a protocol decline code
(protocol.errors), so the terminal can show it as it is. The order of the checks is the order in
which a counter clerk can act on them: a wrong amount before an unknown code, the code itself
before the agreement, the agreement before the money.
"""

from dataclasses import dataclass
from datetime import datetime

# The agreement, operation and kind values are the ledger's vocabulary, which the consoles and
# the API share (ledger/statuses.py); the reference ledger's modules read them here.
from fleet_server.ledger.statuses import (  # noqa: F401  (re-exported)
    ACCEPTED,
    KIND_CARD,
    KIND_COUPON,
    KIND_VOUCHER,
    OP_APPROVED,
    OP_VOIDED,
    REQUESTED,
    SIGNED,
    TERMINATED,
)

# Agreement ("convention") life cycle: which status may follow which.
AGREEMENT_FLOW = {
    REQUESTED: {ACCEPTED, TERMINATED},
    ACCEPTED: {SIGNED, TERMINATED},
    SIGNED: {TERMINATED},
    TERMINATED: set(),
}


@dataclass(frozen=True)
class Program:
    id: str
    market_year: int  # the "millésime" of the program's cards
    max_amount_cents: int | None = None  # most a single sale may be; None: no program limit


@dataclass(frozen=True)
class Partner:
    id: str
    can_take_payments: bool = True  # False: a "deals only" (bons plans) partner


@dataclass(frozen=True)
class Agreement:
    partner_id: str
    program_id: str
    category: str
    market_year: int
    status: str = REQUESTED

    def allows(self, program_id: str, category: str, market_year: int) -> bool:
        return (self.status == SIGNED and self.program_id == program_id
                and self.category == category and self.market_year == market_year)


@dataclass(frozen=True)
class Pot:
    id: int
    category: str
    balance_cents: int
    per_purchase_cap_cents: int | None = None  # None: a "special pot", no cap per purchase


@dataclass(frozen=True)
class Beneficiary:
    id: str
    card_code: str
    program_id: str
    blocked: bool = False
    pots: tuple[Pot, ...] = ()

    def pot(self, category: str) -> Pot | None:
        return next((p for p in self.pots if p.category == category), None)


@dataclass(frozen=True)
class Voucher:
    """An exchange voucher (bon d'échange) or a coupon of an ordered series: fixed value,
    used once."""

    id: int
    number: str
    program_id: str
    category: str
    value_cents: int
    market_year: int
    expires_at: datetime | None = None
    used_operation_id: str | None = None
    series_id: int | None = None
    rank: int | None = None  # 1, 2, 3... within the series

    @property
    def used(self) -> bool:
        return self.used_operation_id is not None


@dataclass(frozen=True)
class CouponSeries:
    """Coupons debitable one after the other (driving licence aid: 300, then 500, then 500)."""

    id: int
    coupons: tuple[Voucher, ...]

    def earlier_all_used(self, rank: int) -> bool:
        return all(c.used for c in self.coupons if c.rank is not None and c.rank < rank)

    def later_any_used(self, rank: int) -> bool:
        return any(c.used for c in self.coupons if c.rank is not None and c.rank > rank)


@dataclass(frozen=True)
class Operation:
    id: str
    partner_id: str
    kind: str
    status: str
    amount_cents: int
    pot_id: int | None = None
    voucher_id: int | None = None
    batch_id: str | None = None  # set once reimbursement has been requested (settlement batch)

    @property
    def reimbursement_requested(self) -> bool:
        return self.batch_id is not None


# Decisions: either a refusal or exactly what to change.

@dataclass(frozen=True)
class Decline:
    code: str
    balance_cents: int | None = None  # shown with pot refusals, so the clerk can re-enter
    # The amount the ledger would take instead, when there is one: a voucher's value, a pot's
    # per-purchase cap. The terminal shows it and, for a voucher, offers to debit it.
    amount_cents: int | None = None


@dataclass(frozen=True)
class DebitPot:
    pot: Pot
    amount_cents: int

    @property
    def balance_after(self) -> int:
        return self.pot.balance_cents - self.amount_cents


@dataclass(frozen=True)
class UseVoucher:
    voucher: Voucher

    @property
    def amount_cents(self) -> int:
        return self.voucher.value_cents


@dataclass(frozen=True)
class VoidOperation:
    operation: Operation


def valid_amount(amount_cents) -> bool:
    # bool is an int in Python; a JSON "true" must not become one cent.
    return isinstance(amount_cents, int) and not isinstance(amount_cents, bool) and amount_cents > 0


def agreed(agreements, program_id: str, category: str, market_year: int) -> bool:
    return any(a.allows(program_id, category, market_year) for a in agreements)


def decide_debit(*, amount_cents, category: str | None, partner: Partner | None,
                 program: Program | None, agreements=(), beneficiary: Beneficiary | None = None,
                 voucher: Voucher | None = None, series: CouponSeries | None = None,
                 now: datetime | None = None) -> Decline | DebitPot | UseVoucher:
    """A card debit takes `beneficiary`; a voucher or coupon debit takes `voucher` (with its
    `series` when it is a coupon, and its owner as `beneficiary` when it has one)."""
    if not valid_amount(amount_cents):
        return Decline("amount_invalid")
    # An unknown partner is a set-up error on our side; to the counter it means the same thing.
    if partner is None or not partner.can_take_payments:
        return Decline("partner_cannot_pay")
    if program is None or (voucher is None and beneficiary is None):
        return Decline("unknown_code")
    if beneficiary is not None and beneficiary.blocked:
        return Decline("beneficiary_blocked")
    if voucher is not None:
        return _decide_voucher(amount_cents, category, program, agreements, voucher, series, now)
    return _decide_card(amount_cents, category, program, agreements, beneficiary)


def _decide_card(amount_cents, category, program, agreements, beneficiary):
    if _over_max(amount_cents, program):
        return Decline("amount_over_max")
    year = program.market_year
    if category is not None:
        pot = beneficiary.pot(category)
        if pot is None:
            return Decline("category_unknown")
    else:
        allowed = [p for p in beneficiary.pots if agreed(agreements, program.id, p.category, year)]
        if not allowed:
            return Decline("not_in_agreement")
        if len(allowed) > 1:
            return Decline("category_required")
        pot = allowed[0]
    if not agreed(agreements, program.id, pot.category, year):
        return Decline("not_in_agreement")
    cap = pot.per_purchase_cap_cents
    if cap is not None and amount_cents > cap:
        return Decline("over_purchase_cap", pot.balance_cents, cap)
    if amount_cents > pot.balance_cents:
        return Decline("insufficient_balance", pot.balance_cents)
    return DebitPot(pot, amount_cents)


def _decide_voucher(amount_cents, category, program, agreements, voucher, series, now):
    if category is not None and category != voucher.category:
        return Decline("category_unknown")
    if voucher.used:
        return Decline("voucher_used")
    if voucher.expires_at is not None and now is not None and now >= voucher.expires_at:
        return Decline("voucher_expired")
    # The market year is the voucher's own: a 2024 coupon needs a 2024 agreement (seed FAQ).
    if not agreed(agreements, voucher.program_id, voucher.category, voucher.market_year):
        return Decline("not_in_agreement")
    if series is not None and not series.earlier_all_used(voucher.rank or 0):
        return Decline("coupon_out_of_order")
    # Vouchers are fixed value: no partial use, no change given.
    if amount_cents != voucher.value_cents:
        return Decline("voucher_amount", amount_cents=voucher.value_cents)
    if _over_max(amount_cents, program):
        return Decline("amount_over_max")
    return UseVoucher(voucher)


def _over_max(amount_cents: int, program: Program) -> bool:
    return program.max_amount_cents is not None and amount_cents > program.max_amount_cents


def decide_void(*, operation: Operation | None, partner_id: str,
                series: CouponSeries | None = None, rank: int | None = None
                ) -> Decline | VoidOperation:
    # Another partner's operation is reported as unknown: its existence is none of their business.
    if operation is None or operation.partner_id != partner_id:
        return Decline("void_unknown")
    if operation.status == OP_VOIDED:
        return Decline("already_voided")
    if operation.reimbursement_requested:
        return Decline("void_not_allowed")
    # Restoring coupon n while coupon n+1 is spent would break the series order.
    if series is not None and rank is not None and series.later_any_used(rank):
        return Decline("void_not_allowed")
    return VoidOperation(operation)


def next_agreement_status(current: str, new: str) -> str:
    if new not in AGREEMENT_FLOW.get(current, set()):
        raise ValueError(f"agreement cannot go from {current!r} to {new!r}")
    return new
