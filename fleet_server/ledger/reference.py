"""The reference ledger: the embedded default adapter of the Ledger port, on the server's database.

Idempotency: each request key (scoped by partner) gets one row in ledger_idempotency_records,
inserted *before* the money moves and committed in the same transaction. A twin request running
at the same moment blocks on that unique key and fails when the first commits; it then reads the
stored answer. So the same key always gets the same answer and money moves at most once.

Atomicity: the rows a decision reads are locked (SELECT ... FOR UPDATE on PostgreSQL; on SQLite
every transaction is BEGIN IMMEDIATE, so writers take turns) and the changes are conditional
UPDATEs (`balance_cents >= amount`, `used_operation_id IS NULL`, `batch_id IS NULL`) whose row
count is checked: if anything changed under us, the whole transaction starts again. Lock order
everywhere: operation, coupon series, voucher, pots.
"""

import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from fleet_server.ledger import rules
from fleet_server.ledger.port import (
    APPROVED,
    DECLINED,
    DebitRequest,
    Ledger,
    LedgerResult,
    LedgerUnavailable,
    VoidRequest,
)
from fleet_server.ledger.tables import (
    AgreementRow,
    BeneficiaryRow,
    CouponSeriesRow,
    IdempotencyRow,
    OperationRow,
    PartnerRow,
    PotRow,
    ProgramRow,
    VoucherRow,
)
from protocol import tokens
from protocol.errors import ProtocolError

_ATTEMPTS = 5  # a conflict needs another request to win in between; five in a row is a fault
_NO_SYNC = {"synchronize_session": False}  # our UPDATEs are checked by row count, not the ORM


def new_id(prefix: str = "", length: int = 10) -> str:
    # 50 random bits of base32: short enough to read over the phone, unique in practice (and
    # primary keys make a collision fail loudly rather than merge two operations).
    return prefix + "".join(secrets.choice(tokens.ALPHABET32) for _ in range(length))


def utcnow() -> datetime:
    return datetime.now(UTC)


class NotFound(LookupError):
    """An administration call named a program, partner, card, pot or operation that is not there."""


class _Conflict(Exception):
    """A conditional UPDATE matched no row: the state changed since it was read; start over."""


@dataclass(frozen=True)
class PotView:
    category: str
    balance_cents: int
    per_purchase_cap_cents: int | None = None  # None: a "special pot"


@dataclass(frozen=True)
class OperationView:
    id: str
    partner_id: str
    kind: str
    token: str
    category: str
    market_year: int
    amount_cents: int
    status: str
    auth_code: str
    device_id: str | None
    internal_reference: str | None
    created_at: datetime
    requested_at: datetime
    voided_at: datetime | None
    batch_id: str | None
    reimbursement_requested_at: datetime | None

    @classmethod
    def of(cls, row: OperationRow) -> "OperationView":
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})


class ReferenceLedger(Ledger):
    def __init__(self, session_factory: sessionmaker,
                 clock: Callable[[], datetime] = utcnow):
        self._sf = session_factory
        self._clock = clock  # the ledger's own time decides an operation's settlement day

    # The port.

    def debit(self, request: DebitRequest) -> LedgerResult:
        return self._once(request.partner_id, request.idempotency_key, "debit",
                          lambda s: self._debit(s, request))

    def void(self, request: VoidRequest) -> LedgerResult:
        return self._once(request.partner_id, request.idempotency_key, "void",
                          lambda s: self._void(s, request))

    def _once(self, partner_id: str, key: str, kind: str,
              work: Callable[[Session], LedgerResult]) -> LedgerResult:
        if not (isinstance(key, str) and 0 < len(key) <= 128):
            raise ValueError("idempotency key must be 1 to 128 characters")
        if not (isinstance(partner_id, str) and 0 < len(partner_id) <= 40):
            raise ValueError("partner id must be 1 to 40 characters")
        for _ in range(_ATTEMPTS):
            try:
                with self._sf() as s, s.begin():
                    found = s.scalar(select(IdempotencyRow).where(
                        IdempotencyRow.partner_id == partner_id,
                        IdempotencyRow.idempotency_key == key))
                    if found is not None:
                        return _stored(found)
                    record = IdempotencyRow(partner_id=partner_id, idempotency_key=key,
                                            kind=kind, status="pending", created_at=self._clock())
                    s.add(record)
                    s.flush()  # claims the key now: a twin waits here, then fails
                    result = work(s)
                    record.status, record.code = result.status, result.code
                    record.amount_cents, record.balance_cents = (result.amount_cents,
                                                                 result.balance_cents)
                    record.operation_id, record.auth_code = result.operation_id, result.auth_code
                return result
            except (IntegrityError, _Conflict):
                continue  # a twin or a competitor won: the next round sees what it did
            except OperationalError as err:
                raise LedgerUnavailable(f"reference ledger database: {err.orig}") from err
        raise LedgerUnavailable("the request kept conflicting with others; try again")

    def _debit(self, s: Session, req: DebitRequest) -> LedgerResult:
        partner = s.get(PartnerRow, req.partner_id)
        ben_row = s.scalar(select(BeneficiaryRow).where(BeneficiaryRow.card_code == req.token))
        voucher_row = series = None
        pots: list[PotRow] = []
        if ben_row is not None:
            pots = list(s.scalars(select(PotRow).where(PotRow.beneficiary_id == ben_row.id)
                                  .order_by(PotRow.id).with_for_update()))
        else:
            voucher_row = s.scalar(select(VoucherRow).where(VoucherRow.number == req.token))
            if voucher_row is not None:
                series = self._lock_series(s, voucher_row.series_id)
                voucher_row = s.scalar(select(VoucherRow).where(VoucherRow.id == voucher_row.id)
                                       .with_for_update().execution_options(
                                           populate_existing=True))
                if voucher_row.beneficiary_id:
                    ben_row = s.get(BeneficiaryRow, voucher_row.beneficiary_id)
        owner = voucher_row or ben_row
        program = s.get(ProgramRow, owner.program_id) if owner is not None else None
        agreements = s.scalars(select(AgreementRow).where(
            AgreementRow.partner_id == req.partner_id))
        now = self._clock()
        decision = rules.decide_debit(
            amount_cents=req.amount_cents, category=req.category,
            partner=partner.to_rules() if partner else None,
            program=program.to_rules() if program else None,
            agreements=[a.to_rules() for a in agreements],
            beneficiary=ben_row.to_rules(pots) if ben_row else None,
            voucher=voucher_row.to_rules() if voucher_row else None, series=series, now=now)
        if isinstance(decision, rules.Decline):
            return LedgerResult(DECLINED, decision.code, balance_cents=decision.balance_cents)

        op = OperationRow(id=new_id("OP"), partner_id=req.partner_id, program_id=program.id,
                          token=req.token, beneficiary_id=ben_row.id if ben_row else None,
                          amount_cents=req.amount_cents, status=rules.OP_APPROVED,
                          auth_code=new_id(length=6), device_id=req.device_id, created_at=now,
                          requested_at=req.requested_at)
        balance = None
        if isinstance(decision, rules.DebitPot):
            pot = decision.pot
            _must(s.execute(update(PotRow).where(
                PotRow.id == pot.id, PotRow.balance_cents >= decision.amount_cents)
                .values(balance_cents=PotRow.balance_cents - decision.amount_cents),
                execution_options=_NO_SYNC))
            op.kind, op.pot_id, op.category = rules.KIND_CARD, pot.id, pot.category
            op.market_year, balance = program.market_year, decision.balance_after
        else:
            voucher = decision.voucher
            _must(s.execute(update(VoucherRow).where(
                VoucherRow.id == voucher.id, VoucherRow.used_operation_id.is_(None))
                .values(used_operation_id=op.id), execution_options=_NO_SYNC))
            op.kind = rules.KIND_COUPON if voucher.series_id else rules.KIND_VOUCHER
            op.voucher_id, op.category = voucher.id, voucher.category
            op.market_year = voucher.market_year
        s.add(op)
        return LedgerResult(APPROVED, amount_cents=op.amount_cents, balance_cents=balance,
                            operation_id=op.id, auth_code=op.auth_code)

    def _void(self, s: Session, req: VoidRequest) -> LedgerResult:
        op = None
        if isinstance(req.operation_id, str):
            op = s.scalar(select(OperationRow).where(OperationRow.id == req.operation_id)
                          .with_for_update())
        series = rank = None
        if op is not None and op.voucher_id is not None:
            voucher = s.get(VoucherRow, op.voucher_id)
            series, rank = self._lock_series(s, voucher.series_id), voucher.rank
        decision = rules.decide_void(operation=op.to_rules() if op else None,
                                     partner_id=req.partner_id, series=series, rank=rank)
        if isinstance(decision, rules.Decline):
            return LedgerResult(DECLINED, decision.code)
        # batch_id IS NULL: a settlement that batched it meanwhile wins, and we start over.
        _must(s.execute(update(OperationRow).where(
            OperationRow.id == op.id, OperationRow.status == rules.OP_APPROVED,
            OperationRow.batch_id.is_(None))
            .values(status=rules.OP_VOIDED, voided_at=self._clock()), execution_options=_NO_SYNC))
        balance = None
        if op.pot_id is not None:
            _must(s.execute(update(PotRow).where(PotRow.id == op.pot_id).values(
                balance_cents=PotRow.balance_cents + op.amount_cents), execution_options=_NO_SYNC))
            balance = s.scalar(select(PotRow.balance_cents).where(PotRow.id == op.pot_id))
        if op.voucher_id is not None:
            _must(s.execute(update(VoucherRow).where(
                VoucherRow.id == op.voucher_id, VoucherRow.used_operation_id == op.id)
                .values(used_operation_id=None), execution_options=_NO_SYNC))
        return LedgerResult(APPROVED, amount_cents=op.amount_cents, balance_cents=balance,
                            operation_id=op.id, auth_code=new_id(length=6))

    @staticmethod
    def _lock_series(s: Session, series_id: int | None) -> rules.CouponSeries | None:
        # Locking the series row serialises everything done to its coupons: a debit of coupon
        # n+1 and a void of coupon n cannot both pass on what the other has not yet written.
        if series_id is None:
            return None
        s.execute(select(CouponSeriesRow.id).where(CouponSeriesRow.id == series_id)
                  .with_for_update())
        coupons = s.scalars(select(VoucherRow).where(VoucherRow.series_id == series_id)
                            .order_by(VoucherRow.rank)
                            .execution_options(populate_existing=True))
        return rules.CouponSeries(series_id, tuple(c.to_rules() for c in coupons))

    # Administration: for seed data, tests and the REST API; not part of the port.

    @contextmanager
    def _tx(self, session: Session | None = None) -> Iterator[Session]:
        """One committed transaction, or the caller's when it passes its session."""
        if session is not None:
            yield session
            return
        with self._sf() as s, s.begin():
            yield s

    def create_program(self, name: str, market_year: int, max_amount_cents: int | None = None,
                       program_id: str | None = None) -> str:
        program_id = program_id or new_id("PG")
        with self._tx() as s:
            s.add(ProgramRow(id=program_id, name=name, market_year=market_year,
                             max_amount_cents=max_amount_cents, created_at=self._clock()))
        return program_id

    def create_partner(self, name: str, can_take_payments: bool = True,
                       partner_id: str | None = None) -> str:
        partner_id = partner_id or new_id("PA")
        with self._tx() as s:
            s.add(PartnerRow(id=partner_id, name=name, can_take_payments=can_take_payments,
                             created_at=self._clock()))
        return partner_id

    def create_agreement(self, partner_id: str, program_id: str, category: str,
                         market_year: int, status: str = rules.REQUESTED) -> str:
        if status not in rules.AGREEMENT_FLOW:
            raise ValueError(f"unknown agreement status {status!r}")
        now, agreement_id = self._clock(), new_id(length=9)
        with self._tx() as s:
            s.add(AgreementRow(id=agreement_id, partner_id=partner_id, program_id=program_id,
                               category=category, market_year=market_year, status=status,
                               requested_at=now, status_at=now,
                               signed_at=now if status == rules.SIGNED else None))
        return agreement_id

    def set_agreement_status(self, agreement_id: str, status: str) -> None:
        with self._tx() as s:
            row = _get(s, AgreementRow, agreement_id)
            row.status = rules.next_agreement_status(row.status, status)
            row.status_at = self._clock()
            if status == rules.SIGNED:
                row.signed_at = row.status_at

    def agreements(self, partner_id: str) -> list[dict]:
        with self._sf() as s:
            rows = s.scalars(select(AgreementRow).where(AgreementRow.partner_id == partner_id)
                             .order_by(AgreementRow.requested_at))
            return [{c: getattr(r, c) for c in AgreementRow.__table__.columns.keys()}
                    for r in rows]

    def create_beneficiary(self, program_id: str, card_code: str, pots: Iterable[PotView],
                           name: str | None = None, blocked: bool = False) -> str:
        _check_code(card_code, tokens.CARD)
        beneficiary_id = new_id("BE")
        with self._tx() as s:
            _get(s, ProgramRow, program_id)
            s.add(BeneficiaryRow(id=beneficiary_id, program_id=program_id, card_code=card_code,
                                 name=name, blocked=blocked, created_at=self._clock()))
            s.flush()
            for pot in pots:
                _check_cents(pot.balance_cents)
                s.add(PotRow(beneficiary_id=beneficiary_id, category=pot.category,
                             balance_cents=pot.balance_cents,
                             per_purchase_cap_cents=pot.per_purchase_cap_cents))
        return beneficiary_id

    def set_beneficiary_blocked(self, card_code: str, blocked: bool) -> None:
        with self._tx() as s:
            _beneficiary(s, card_code).blocked = blocked

    def create_voucher(self, program_id: str, number: str, category: str, value_cents: int,
                       market_year: int, expires_at: datetime | None = None,
                       card_code: str | None = None, *, _series: tuple[int, int] | None = None,
                       _session: Session | None = None) -> str:
        _check_code(number, tokens.VOUCHER)
        if not rules.valid_amount(value_cents):
            raise ValueError("a voucher is worth a positive number of cents")
        with self._tx(_session) as s:
            owner = _beneficiary(s, card_code).id if card_code else None
            series_id, rank = _series or (None, None)
            s.add(VoucherRow(number=number, program_id=program_id, beneficiary_id=owner,
                             category=category, value_cents=value_cents, market_year=market_year,
                             expires_at=expires_at, series_id=series_id, rank=rank,
                             created_at=self._clock()))
        return number

    def create_coupon_series(self, program_id: str, category: str, market_year: int,
                             coupons: Iterable[tuple[str, int]], card_code: str | None = None,
                             expires_at: datetime | None = None) -> int:
        """`coupons` are (number, value_cents) in the order they must be debited."""
        with self._tx() as s:
            owner = _beneficiary(s, card_code).id if card_code else None
            series = CouponSeriesRow(program_id=program_id, beneficiary_id=owner,
                                     category=category, market_year=market_year,
                                     created_at=self._clock())
            s.add(series)
            s.flush()
            series_id = series.id
            for rank, (number, value_cents) in enumerate(coupons, start=1):
                self.create_voucher(program_id, number, category, value_cents, market_year,
                                    expires_at, card_code, _series=(series_id, rank), _session=s)
        return series_id

    def load_pot(self, card_code: str, category: str, amount_cents: int) -> int:
        """Credit a pot (the program tops it up); returns the new balance."""
        if not rules.valid_amount(amount_cents):
            raise ValueError("a pot is loaded with a positive number of cents")
        with self._tx() as s:
            ben = _beneficiary(s, card_code)
            done = s.execute(update(PotRow).where(
                PotRow.beneficiary_id == ben.id, PotRow.category == category)
                .values(balance_cents=PotRow.balance_cents + amount_cents),
                execution_options=_NO_SYNC)
            if done.rowcount != 1:
                raise NotFound(f"no {category!r} pot on this card")
            return s.scalar(select(PotRow.balance_cents).where(
                PotRow.beneficiary_id == ben.id, PotRow.category == category))

    def balances(self, card_code: str) -> list[PotView]:
        with self._sf() as s:
            ben = _beneficiary(s, card_code)
            pots = s.scalars(select(PotRow).where(PotRow.beneficiary_id == ben.id)
                             .order_by(PotRow.category))
            return [PotView(p.category, p.balance_cents, p.per_purchase_cap_cents) for p in pots]

    def voucher_used(self, number: str) -> bool:
        with self._sf() as s:
            row = s.scalar(select(VoucherRow).where(VoucherRow.number == number))
            if row is None:
                raise NotFound("unknown voucher")
            return row.used_operation_id is not None

    def list_operations(self, *, partner_id: str | None = None, status: str | None = None,
                        start_at: datetime | None = None, end_at: datetime | None = None,
                        search: str | None = None, device_id: str | None = None,
                        batch_id: str | None = None,
                        reimbursement_requested: bool | None = None, limit: int = 100,
                        offset: int = 0) -> list[OperationView]:
        """Newest first. `start_at` is inclusive, `end_at` exclusive (aware datetimes); `search`
        is a piece of the operation number, the card or voucher code or the internal reference."""
        q = select(OperationRow)
        for wanted, column in ((partner_id, OperationRow.partner_id),
                               (status, OperationRow.status),
                               (device_id, OperationRow.device_id),
                               (batch_id, OperationRow.batch_id)):
            if wanted is not None:
                q = q.where(column == wanted)
        if start_at is not None:
            q = q.where(OperationRow.created_at >= start_at)
        if end_at is not None:
            q = q.where(OperationRow.created_at < end_at)
        if reimbursement_requested is not None:
            q = q.where(OperationRow.batch_id.is_not(None) if reimbursement_requested
                        else OperationRow.batch_id.is_(None))
        if search:
            text = search.strip().replace(" ", "")
            q = q.where(or_(*(c.icontains(text, autoescape=True) for c in (
                OperationRow.id, OperationRow.token, OperationRow.internal_reference))))
        q = q.order_by(OperationRow.created_at.desc(), OperationRow.id).limit(limit).offset(offset)
        with self._sf() as s:
            return [OperationView.of(r) for r in s.scalars(q)]

    def get_operation(self, operation_id: str, partner_id: str | None = None
                      ) -> OperationView | None:
        with self._sf() as s:
            row = s.get(OperationRow, operation_id)
            if row is None or (partner_id is not None and row.partner_id != partner_id):
                return None
            return OperationView.of(row)

    def set_internal_reference(self, operation_id: str, partner_id: str,
                               reference: str | None) -> OperationView:
        with self._tx() as s:
            row = s.get(OperationRow, operation_id)
            if row is None or row.partner_id != partner_id:
                raise NotFound("unknown operation")
            row.internal_reference = (reference or "").strip()[:100] or None
            return OperationView.of(row)


def _must(result) -> None:
    if result.rowcount != 1:
        raise _Conflict()


def _stored(row: IdempotencyRow) -> LedgerResult:
    return LedgerResult(row.status, row.code, row.amount_cents, row.balance_cents,
                        row.operation_id, row.auth_code)


def _get(s: Session, model, key):
    row = s.get(model, key)
    if row is None:
        raise NotFound(f"unknown {model.__tablename__.removeprefix('ledger_')} {key!r}")
    return row


def _beneficiary(s: Session, card_code: str) -> BeneficiaryRow:
    row = s.scalar(select(BeneficiaryRow).where(BeneficiaryRow.card_code == card_code))
    if row is None:
        raise NotFound("unknown card")
    return row


def _check_code(code: str, kind: str) -> None:
    # Only codes a terminal can read back exactly are handed out.
    try:
        ok = tokens.parse_token(code) == (kind, code)
    except ProtocolError:
        ok = False
    if not ok:
        raise ValueError(f"{code!r} is not a normalised {kind} code with a valid check")


def _check_cents(value) -> None:
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        raise ValueError("money is a non-negative integer number of cents")
