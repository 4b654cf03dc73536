"""A sale recorded without a terminal: the console's online till (typed, or scanned with a
webcam, in the browser when the counter has no working terminal) and POST /api/v1/transactions
both record it with record_sale. The same ledger and rules as a terminal: the money moves
through the Ledger port's debit, refusals are protocol decline codes (the console says them as
the terminal does, in French: entrypoints/web/refusals.py).

A sale carries an idempotency key made when the till form is shown, so a double click or a
browser retry is the same sale, never a second one.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from fleet_server.ledger.port import DebitRequest, Ledger, LedgerUnavailable
from fleet_server.service_layer.unit_of_work import UnitOfWork
from protocol import tokens
from protocol.errors import ProtocolError

MAX_CENTS = 10_000_000  # 100,000.00 EUR: far above any program maximum, bounds the input
_AMOUNT = re.compile(r"^([0-9]{1,7})(?:[.,]([0-9]{1,2}))?$")


class AmountInvalid(ValueError):
    """reason: "format" (not euros as typed at a counter) or "range" (0, or above MAX_CENTS)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TillResult:
    approved: bool
    code: str | None = None  # protocol decline code when refused; amount_invalid, malformed
    # (the form's key is spent or made up), replay (the key was used for another amount)
    amount_cents: int = 0
    balance_cents: int | None = None
    operation_id: str | None = None
    auth_code: str | None = None
    detail: str | None = None  # amount_invalid: AmountInvalid's reason


def parse_amount(raw: str) -> int:
    """"12", "12,5", "12.50" or "12,50 €" -> cents; AmountInvalid otherwise."""
    text = (raw or "").strip().replace("€", "").replace("\u00a0", "").replace(" ", "")
    match = _AMOUNT.match(text)
    if not match:
        raise AmountInvalid("format")
    cents = int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))
    if cents <= 0 or cents > MAX_CENTS:
        raise AmountInvalid("range")
    return cents


def refused(code: str, balance_cents: int | None = None, amount_cents: int = 0) -> TillResult:
    """amount_cents: what the ledger would take instead (a coupon's value, the cap), 0 if
    nothing: shown with the refusal, as the terminal does."""
    return TillResult(False, code, amount_cents, balance_cents=balance_cents)


def partner_refusal(uow_factory: Callable[[], UnitOfWork], partner_id: str) -> str | None:
    """The directory's answer to "may this partner take payments now" (suspended, deals only,
    unknown), asked before the ledger."""
    with uow_factory() as uow:
        partner = uow.partners.get(partner_id)
        return partner.refusal() if partner is not None else "partner_cannot_pay"


def sell(uow_factory: Callable[[], UnitOfWork], ledger: Ledger, partner_id: str,
         raw_code: str, raw_amount: str, category: str | None, sale_key: str,
         clock: Callable[[], datetime]) -> TillResult:
    """The till form's sale: its fields as typed, `sale_key` made when the form was shown. A
    partner that may not take payments is told so before anything typed is checked."""
    refusal = partner_refusal(uow_factory, partner_id)
    if refusal:
        return refused(refusal)
    try:
        amount = parse_amount(raw_amount)
    except AmountInvalid as err:
        return TillResult(False, "amount_invalid", detail=err.reason)
    try:
        _kind, code = tokens.parse_token((raw_code or "").strip()[:128])
    except ProtocolError as err:
        return refused(err.code)
    if not re.fullmatch(r"[A-Za-z0-9_-]{16,64}", sale_key or ""):
        return TillResult(False, "malformed")
    return record_sale(uow_factory, ledger, partner_id, code, amount, category,
                       f"till:{sale_key}", clock())


def record_sale(uow_factory: Callable[[], UnitOfWork], ledger: Ledger, partner_id: str,
                code: str, amount_cents: int, category: str | None, key: str,
                now: datetime) -> TillResult:
    """Record one sale for the partner: `code` a card or voucher code already normalised, `key`
    the ledger's idempotency key (the same key again is the same sale, never a second one).
    Refused with the protocol's decline code: the partner may not take payments, the ledger
    declines or is unavailable (service_unavailable), or the key was used for another amount
    (replay)."""
    refusal = partner_refusal(uow_factory, partner_id)
    if refusal:
        return refused(refusal)
    try:
        result = ledger.debit(DebitRequest(key, partner_id, code, amount_cents,
                                           category or None, now))
    except LedgerUnavailable:
        return refused("service_unavailable")
    if not result.approved:
        return refused(result.code or "internal_error", result.balance_cents,
                       result.amount_cents)
    if result.amount_cents != amount_cents:
        # The same form sent again with another amount: the first sale stands, nothing moved.
        return TillResult(False, "replay")
    return TillResult(True, None, result.amount_cents, result.balance_cents,
                      result.operation_id, result.auth_code)
