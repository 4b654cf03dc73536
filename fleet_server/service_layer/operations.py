"""Cancelling an operation before its reimbursement: the one use case behind
POST /api/v1/transactions/{id}/cancel and the partner console's "Annuler" button. The ledger
decides (void_not_allowed once the operation is in a settlement batch, already_voided the second
time, void_unknown for an unknown or another partner's operation); the money moves only through
the Ledger port's void, with an idempotency key."""

from datetime import datetime

from fleet_server.ledger.port import Ledger, LedgerResult, VoidRequest


class CancelRefused(Exception):
    """The ledger's refusal, with its protocol decline code."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def cancel_operation(ledger: Ledger, partner_id: str, operation_id: str, key: str,
                     now: datetime) -> LedgerResult:
    """Void the partner's operation. `key`: the same key again gets the first answer, so a
    retried request cancels nothing twice (and is not refused as already_voided). The ledger
    being unreachable raises LedgerUnavailable: nothing was decided."""
    result = ledger.void(VoidRequest(key, partner_id, operation_id, now))
    if not result.approved:
        raise CancelRefused(result.code or "internal_error")
    return result
