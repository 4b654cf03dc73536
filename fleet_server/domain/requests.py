"""What the server answered to each money request of a terminal, kept so that a retransmission
gets the very same bytes back, and a lost ledger answer can be asked again."""

from dataclasses import dataclass
from datetime import datetime

DEBIT = "debit"
VOID = "void"

ANSWERED = "answered"  # the result is final and stored byte for byte
PENDING = "pending"  # the ledger was asked but did not answer: ask again on retransmission


@dataclass
class StoredRequest:
    device_id: str
    seq: int
    kind: str  # DEBIT or VOID
    status: str  # ANSWERED or PENDING
    created_at: datetime
    partner_id: str | None = None
    token: str | None = None
    amount_cents: int = 0
    category: str | None = None
    original_seq: int | None = None  # for a void: the sale it cancels
    result_status: str | None = None  # approved / declined / error
    result_code: str | None = None
    operation_id: str | None = None
    result_payload: bytes | None = None
    answered_at: datetime | None = None
    # The Initial Key ID the request was MACed under: a re-keyed terminal starts its counter
    # again, so (device_id, key_id, seq) names one request.
    key_id: str = ""
    ledger_key: str | None = None  # idempotency key sent to the ledger

    @property
    def approved(self) -> bool:
        return self.result_status == "approved"
