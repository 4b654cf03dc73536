"""The values a ledger's administration puts in its views' status and kind fields
(admin_port.LedgerAdministration): agreements, operations, reimbursement batches. The consoles,
the API and the reference ledger (fleet_server.reference_ledger) all speak of them by these
names."""

# Agreement ("convention") life cycle. Only a SIGNED agreement lets a partner debit: in the
# seeds the Region validates ("acceptée"), then both sides sign, and only then is the
# "Transactions" menu opened.
REQUESTED, ACCEPTED, SIGNED, TERMINATED = "requested", "accepted", "signed", "terminated"

# An operation, and what it spent.
OP_APPROVED, OP_VOIDED = "approved", "voided"
KIND_CARD, KIND_VOUCHER, KIND_COUPON = "card", "voucher", "coupon"

# A settlement batch (reimbursement request): requested by the nightly run, then paid, or
# cancelled as a whole by the partner.
BATCH_REQUESTED, BATCH_PAID, BATCH_CANCELLED = "requested", "paid", "cancelled"
