"""The administration port's listings and reimbursement batches (ledger/admin_port.py) on the
reference ledger: its listings.py and settlement.py functions on the ledger's own sessions.
A mixin like admin.LedgerAdmin: ReferenceLedger inherits both."""

from collections.abc import Callable
from datetime import date, datetime

from sqlalchemy.orm import sessionmaker

from fleet_server.ledger.views import BatchView, CardView, Holder, ProgramView, VoucherView
from fleet_server.reference_ledger import listings, settlement


class LedgerLists:
    _sf: sessionmaker
    _clock: Callable[[], datetime]

    def programs(self) -> list[ProgramView]:
        return listings.programs(self._sf)

    def cards(self, search: str | None = None, limit: int = 50,
              offset: int = 0) -> list[CardView]:
        return listings.cards(self._sf, search, limit, offset)

    def vouchers(self, search: str | None = None, series_id: int | None = None,
                 limit: int = 50, offset: int = 0) -> list[VoucherView]:
        return listings.vouchers(self._sf, search, series_id, limit, offset)

    def holders(self, operation_ids: list[str]) -> dict[str, Holder]:
        return listings.holders(self._sf, operation_ids)

    def list_batches(self, partner_id: str | None = None, status: str | None = None,
                     day_from: date | None = None, day_to: date | None = None
                     ) -> list[BatchView]:
        return settlement.list_batches(self._sf, partner_id, status, day_from, day_to)

    def cancel_batch(self, batch_id: str, partner_id: str | None = None) -> BatchView:
        return settlement.cancel_batch(self._sf, batch_id, partner_id, self._clock)

    def mark_batch_paid(self, batch_id: str) -> BatchView:
        return settlement.mark_batch_paid(self._sf, batch_id, self._clock)

    def run_settlement(self, day: date) -> list[BatchView]:
        return settlement.run_settlement(self._sf, day, self._clock)

    def settle_before(self, cutoff: date) -> list[BatchView]:
        return settlement.settle_before(self._sf, cutoff, self._clock)
