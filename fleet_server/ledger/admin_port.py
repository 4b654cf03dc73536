"""The administration port of a ledger: what the operator's and partner's consoles and the REST
API call besides the Ledger port (programmes, partners, agreements, cards and pots, vouchers
and coupon series, categories, operations). The built-in reference ledger implements it
(fleet_server.reference_ledger); a remote ledger is administered where it runs, and the
composition root then has none (Fleet.ledger_admin is None)."""

from collections.abc import Iterable
from datetime import date, datetime
from typing import Protocol

from fleet_server.ledger.views import (
    BatchView,
    CardView,
    CategoryView,
    Holder,
    OperationView,
    PotView,
    ProgramView,
    VoucherView,
)


class LedgerAdministration(Protocol):
    def categories(self) -> list[CategoryView]: ...

    def category_labels(self) -> dict[str, str]: ...

    def save_category(self, code: str, label: str) -> CategoryView: ...

    def create_program(self, name: str, market_year: int, max_amount_cents: int | None = None,
                       program_id: str | None = None) -> str: ...

    def create_partner(self, name: str, can_take_payments: bool = True,
                       partner_id: str | None = None) -> str: ...

    def create_agreement(self, partner_id: str, program_id: str, category: str,
                         market_year: int, status: str = "requested") -> str: ...

    def set_agreement_status(self, agreement_id: str, status: str) -> None: ...

    def agreements(self, partner_id: str) -> list[dict]: ...

    def category_caps(self, program_ids: Iterable[str]) -> dict[str, int | None]: ...

    def create_beneficiary(self, program_id: str, card_code: str, pots: Iterable[PotView],
                           name: str | None = None, blocked: bool = False) -> str: ...

    def set_beneficiary_blocked(self, card_code: str, blocked: bool) -> None: ...

    def create_voucher(self, program_id: str, number: str, category: str, value_cents: int,
                       market_year: int, expires_at: datetime | None = None,
                       card_code: str | None = None) -> str: ...

    def create_coupon_series(self, program_id: str, category: str, market_year: int,
                             coupons: Iterable[tuple[str, int]], card_code: str | None = None,
                             expires_at: datetime | None = None) -> int: ...

    def load_pot(self, card_code: str, category: str, amount_cents: int) -> int: ...

    def balances(self, card_code: str) -> list[PotView]: ...

    def voucher_used(self, number: str) -> bool: ...

    def list_operations(self, *, partner_id: str | None = None, status: str | None = None,
                        start_at: datetime | None = None, end_at: datetime | None = None,
                        search: str | None = None, device_id: str | None = None,
                        batch_id: str | None = None,
                        reimbursement_requested: bool | None = None, limit: int = 100,
                        offset: int = 0) -> list[OperationView]: ...

    def get_operation(self, operation_id: str, partner_id: str | None = None
                      ) -> OperationView | None: ...

    def set_internal_reference(self, operation_id: str, partner_id: str,
                               reference: str | None) -> OperationView: ...

    # Listings and reimbursement batches.

    def programs(self) -> list[ProgramView]: ...

    def cards(self, search: str | None = None, limit: int = 50,
              offset: int = 0) -> list[CardView]: ...

    def vouchers(self, search: str | None = None, series_id: int | None = None,
                 limit: int = 50, offset: int = 0) -> list[VoucherView]: ...

    def holders(self, operation_ids: list[str]) -> dict[str, Holder]: ...

    def list_batches(self, partner_id: str | None = None, status: str | None = None,
                     day_from: date | None = None, day_to: date | None = None
                     ) -> list[BatchView]: ...

    def cancel_batch(self, batch_id: str, partner_id: str | None = None) -> BatchView: ...

    def mark_batch_paid(self, batch_id: str) -> BatchView: ...

    # Settlement runs (the nightly scheduler, `fleet settle`, the operator's API call).

    def run_settlement(self, day: date) -> list[BatchView]:
        """Batch the Paris day's pending operations, one batch per partner; the new batches."""
        ...

    def settle_before(self, cutoff: date) -> list[BatchView]:
        """Batch every operation still pending before Paris midnight starting `cutoff`."""
        ...
