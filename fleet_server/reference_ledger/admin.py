"""Administration of the reference ledger: seed data, tests and the REST API create programs,
partners, agreements, cards, vouchers and coupon series, and read balances and operations. Not
part of the Ledger port and not on the debit path, so plain ORM is fine here.

`LedgerAdmin` is a mixin: ReferenceLedger inherits it, so `ledger.create_program(...)` and the rest
are called on the ledger object itself.
"""

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from fleet_server.domain.ids import new_id
from fleet_server.ledger.views import NotFound, OperationView, PotView
from fleet_server.reference_ledger import categories as category_list
from fleet_server.reference_ledger import rules
from fleet_server.reference_ledger.tables import (
    AgreementRow,
    BeneficiaryRow,
    CouponSeriesRow,
    OperationRow,
    PartnerRow,
    PotRow,
    ProgramRow,
    VoucherRow,
)
from protocol import tokens
from protocol.errors import ProtocolError

_NO_SYNC = {"synchronize_session": False}  # our UPDATEs are checked by row count, not the ORM


def utcnow() -> datetime:
    return datetime.now(UTC)


class LedgerAdmin:
    """The administration calls; the class using it sets `_sf` and `_clock`."""

    _sf: sessionmaker
    _clock: Callable[[], datetime]


    @contextmanager
    def _tx(self, session: Session | None = None) -> Iterator[Session]:
        """One committed transaction, or the caller's when it passes its session."""
        if session is not None:
            yield session
            return
        with self._sf() as s, s.begin():
            yield s

    def categories(self) -> list[category_list.CategoryView]:
        with self._sf() as s:
            return category_list.listed(s)

    def category_labels(self) -> dict[str, str]:
        return {c.code: c.label for c in self.categories()}

    def save_category(self, code: str, label: str) -> category_list.CategoryView:
        with self._tx() as s:
            return category_list.save(s, code, label, self._clock())

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
            category_list.require(s, category)
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
            rows = s.execute(select(AgreementRow, ProgramRow.max_amount_cents)
                             .join(ProgramRow, ProgramRow.id == AgreementRow.program_id)
                             .where(AgreementRow.partner_id == partner_id)
                             .order_by(AgreementRow.requested_at))
            # program_max_cents: the program's most per sale (None: no limit), which terminals
            # use to bound the amount typed before asking.
            return [{**{c: getattr(r, c) for c in AgreementRow.__table__.columns.keys()},
                     "program_max_cents": max_cents} for r, max_cents in rows]

    def category_caps(self, program_ids: Iterable[str]) -> dict[str, int | None]:
        """Per category of these programs' cards, the per-purchase cap a terminal may show and
        enforce before asking: the largest cap of its pots, None when one of them has none (a
        special pot), so the terminal never refuses a sale the ledger would take."""
        cap = PotRow.per_purchase_cap_cents
        with self._sf() as s:
            rows = s.execute(select(PotRow.category, func.max(cap), func.count() - func.count(cap))
                             .join(BeneficiaryRow, BeneficiaryRow.id == PotRow.beneficiary_id)
                             .where(BeneficiaryRow.program_id.in_(list(program_ids)))
                             .group_by(PotRow.category))
            return {category: (most if uncapped == 0 else None)
                    for category, most, uncapped in rows}

    def create_beneficiary(self, program_id: str, card_code: str, pots: Iterable[PotView],
                           name: str | None = None, blocked: bool = False) -> str:
        _check_code(card_code, tokens.CARD)
        beneficiary_id = new_id("BE")
        pots = list(pots)
        with self._tx() as s:
            _get(s, ProgramRow, program_id)
            category_list.require(s, *(pot.category for pot in pots))
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
            if _series is None:  # a series checked its category once
                category_list.require(s, category)
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
            category_list.require(s, category)
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
