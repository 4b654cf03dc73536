"""Tables of the reference ledger (all prefixed `ledger_`: in production the ledger is another
system, so nothing of the fleet server refers to them) and their translation to rules.py objects.

Money is integer cents; datetimes are stored as UTC and come back aware (UTCDateTime), on SQLite
as on PostgreSQL.
"""

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from fleet_server.adapters.db import Base
from fleet_server.adapters.sql_types import UTCDateTime
from fleet_server.reference_ledger import rules


class CategoryRow(Base):
    """The managed list of categories (pots, vouchers, coupon series, agreements use its codes):
    a stable code for the wire and the API, a French label for people."""

    __tablename__ = "ledger_categories"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    label: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProgramRow(Base):
    __tablename__ = "ledger_programs"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    market_year: Mapped[int] = mapped_column(Integer)
    max_amount_cents: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    def to_rules(self) -> rules.Program:
        return rules.Program(self.id, self.market_year, self.max_amount_cents)


class PartnerRow(Base):
    __tablename__ = "ledger_partners"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    can_take_payments: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    def to_rules(self) -> rules.Partner:
        return rules.Partner(self.id, self.can_take_payments)


class AgreementRow(Base):
    __tablename__ = "ledger_agreements"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)  # the "code" partners see
    partner_id: Mapped[str] = mapped_column(ForeignKey("ledger_partners.id"), index=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("ledger_programs.id"))
    category: Mapped[str] = mapped_column(String(32))
    market_year: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status_at: Mapped[datetime] = mapped_column(UTCDateTime)

    def to_rules(self) -> rules.Agreement:
        return rules.Agreement(self.partner_id, self.program_id, self.category,
                               self.market_year, self.status)


class BeneficiaryRow(Base):
    __tablename__ = "ledger_beneficiaries"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("ledger_programs.id"))
    card_code: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str | None] = mapped_column(String(120))
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    def to_rules(self, pots) -> rules.Beneficiary:
        return rules.Beneficiary(self.id, self.card_code, self.program_id, self.blocked,
                                 tuple(p.to_rules() for p in pots))


class PotRow(Base):
    __tablename__ = "ledger_pots"
    __table_args__ = (
        UniqueConstraint("beneficiary_id", "category"),
        # The last line of defence: whatever the code does, a pot is never overdrawn.
        CheckConstraint("balance_cents >= 0", name="balance_not_negative"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    beneficiary_id: Mapped[str] = mapped_column(ForeignKey("ledger_beneficiaries.id"))
    category: Mapped[str] = mapped_column(String(32))
    balance_cents: Mapped[int] = mapped_column(Integer)
    per_purchase_cap_cents: Mapped[int | None] = mapped_column(Integer)

    def to_rules(self) -> rules.Pot:
        return rules.Pot(self.id, self.category, self.balance_cents, self.per_purchase_cap_cents)


class CouponSeriesRow(Base):
    __tablename__ = "ledger_coupon_series"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("ledger_programs.id"))
    beneficiary_id: Mapped[str | None] = mapped_column(ForeignKey("ledger_beneficiaries.id"))
    category: Mapped[str] = mapped_column(String(32))
    market_year: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class VoucherRow(Base):
    __tablename__ = "ledger_vouchers"
    __table_args__ = (UniqueConstraint("series_id", "rank"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(9), unique=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("ledger_programs.id"))
    beneficiary_id: Mapped[str | None] = mapped_column(ForeignKey("ledger_beneficiaries.id"))
    category: Mapped[str] = mapped_column(String(32))
    value_cents: Mapped[int] = mapped_column(Integer)
    market_year: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    series_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_coupon_series.id"))
    rank: Mapped[int | None] = mapped_column(Integer)
    # No foreign key: operations already point at vouchers, and a cycle of keys would need
    # deferred constraints for nothing. Set and cleared only by conditional UPDATEs.
    used_operation_id: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    def to_rules(self) -> rules.Voucher:
        return rules.Voucher(self.id, self.number, self.program_id, self.category,
                             self.value_cents, self.market_year, self.expires_at,
                             self.used_operation_id, self.series_id, self.rank)


class BatchRow(Base):
    """One reimbursement request ("télécollecte") per partner and Paris day."""

    __tablename__ = "ledger_settlement_batches"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("ledger_partners.id"), index=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    count: Mapped[int] = mapped_column(Integer)
    total_cents: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))  # requested, paid, cancelled
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OperationRow(Base):
    __tablename__ = "ledger_operations"
    __table_args__ = (Index("ix_ledger_operations_partner_created", "partner_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("ledger_partners.id"))
    program_id: Mapped[str] = mapped_column(ForeignKey("ledger_programs.id"))
    kind: Mapped[str] = mapped_column(String(8))  # card, voucher, coupon
    token: Mapped[str] = mapped_column(String(12), index=True)
    beneficiary_id: Mapped[str | None] = mapped_column(ForeignKey("ledger_beneficiaries.id"))
    pot_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_pots.id"))
    voucher_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_vouchers.id"))
    category: Mapped[str] = mapped_column(String(32))
    market_year: Mapped[int] = mapped_column(Integer)
    amount_cents: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10))  # approved, voided
    auth_code: Mapped[str] = mapped_column(String(6))
    device_id: Mapped[str | None] = mapped_column(String(24), index=True)
    internal_reference: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # the ledger's clock
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the terminal's clock
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("ledger_settlement_batches.id"),
                                                 index=True)
    reimbursement_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def to_rules(self) -> rules.Operation:
        return rules.Operation(self.id, self.partner_id, self.kind, self.status,
                               self.amount_cents, self.pot_id, self.voucher_id, self.batch_id)


class IdempotencyRow(Base):
    """The stored answer to one request key. It is inserted first, in the same transaction as
    the money movement: a twin request blocks on the unique key, then fails and reads this."""

    __tablename__ = "ledger_idempotency_records"
    __table_args__ = (UniqueConstraint("partner_id", "idempotency_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Scoped by partner, so one partner's key can never fetch another partner's answer.
    partner_id: Mapped[str] = mapped_column(String(40))
    idempotency_key: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(8))  # debit, void
    status: Mapped[str] = mapped_column(String(10))
    code: Mapped[str | None] = mapped_column(String(32))
    amount_cents: Mapped[int] = mapped_column(Integer, default=0)
    balance_cents: Mapped[int | None] = mapped_column(Integer)
    operation_id: Mapped[str | None] = mapped_column(String(16))
    auth_code: Mapped[str | None] = mapped_column(String(6))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


LEDGER_TABLES = [m.__table__ for m in (
    CategoryRow, ProgramRow, PartnerRow, AgreementRow, BeneficiaryRow, PotRow, CouponSeriesRow,
    VoucherRow, BatchRow, OperationRow, IdempotencyRow)]
