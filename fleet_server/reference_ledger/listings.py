"""Read-only listings of the reference ledger for the operator's console: programs, cards with
their pots, vouchers and coupon series. Like settlement.py, plain functions on the session
factory of the ledger's database; not part of the Ledger port (an external ledger is
administered where it runs)."""

from sqlalchemy import func, or_, select
from sqlalchemy.orm import aliased, sessionmaker

from fleet_server.ledger.views import CardView, Holder, PotView, ProgramView, VoucherView
from fleet_server.reference_ledger.tables import (
    BeneficiaryRow,
    OperationRow,
    PotRow,
    ProgramRow,
    VoucherRow,
)


def programs(sf: sessionmaker) -> list[ProgramView]:
    with sf() as s:
        rows = s.scalars(select(ProgramRow).order_by(ProgramRow.market_year.desc(),
                                                     ProgramRow.name))
        return [ProgramView(r.id, r.name, r.market_year, r.max_amount_cents) for r in rows]


def cards(sf: sessionmaker, search: str | None = None, limit: int = 50,
          offset: int = 0) -> list[CardView]:
    """Newest first; `search` is a piece of the card code or of the name."""
    q = select(BeneficiaryRow)
    if search:
        q = q.where(or_(BeneficiaryRow.card_code.icontains(search, autoescape=True),
                        BeneficiaryRow.name.icontains(search, autoescape=True)))
    q = q.order_by(BeneficiaryRow.created_at.desc(), BeneficiaryRow.id).limit(limit).offset(offset)
    with sf() as s:
        rows = list(s.scalars(q))
        pots: dict[str, list[PotView]] = {}
        if rows:
            for p in s.scalars(select(PotRow).where(PotRow.beneficiary_id.in_(
                    [r.id for r in rows])).order_by(PotRow.category)):
                pots.setdefault(p.beneficiary_id, []).append(
                    PotView(p.category, p.balance_cents, p.per_purchase_cap_cents))
        return [CardView(r.card_code, r.name, r.program_id, r.blocked, tuple(pots.get(r.id, ())))
                for r in rows]


def vouchers(sf: sessionmaker, search: str | None = None, series_id: int | None = None,
             limit: int = 50, offset: int = 0) -> list[VoucherView]:
    """Newest first, a series in its order; `search` is a piece of the number."""
    q = select(VoucherRow, BeneficiaryRow.card_code).outerjoin(
        BeneficiaryRow, BeneficiaryRow.id == VoucherRow.beneficiary_id)
    if search:
        q = q.where(VoucherRow.number.icontains(search, autoescape=True))
    if series_id is not None:
        q = q.where(VoucherRow.series_id == series_id).order_by(VoucherRow.rank)
    else:
        q = q.order_by(VoucherRow.created_at.desc(), VoucherRow.id.desc())
    with sf() as s:
        return [VoucherView(v.number, v.program_id, v.category, v.value_cents, v.market_year,
                            v.series_id, v.rank, v.used_operation_id is not None, card,
                            v.created_at)
                for v, card in s.execute(q.limit(limit).offset(offset))]


def count_vouchers(sf: sessionmaker) -> int:
    with sf() as s:
        return s.scalar(select(func.count()).select_from(VoucherRow))


def holders(sf: sessionmaker, operation_ids: list[str]) -> dict[str, Holder]:
    """Operation id -> Holder, for a page or an export of operations."""
    by_voucher = aliased(BeneficiaryRow)
    base = (select(OperationRow.id, ProgramRow.name, BeneficiaryRow.card_code,
                by_voucher.card_code)
         .join(ProgramRow, ProgramRow.id == OperationRow.program_id)
         .outerjoin(BeneficiaryRow, BeneficiaryRow.id == OperationRow.beneficiary_id)
         .outerjoin(VoucherRow, VoucherRow.id == OperationRow.voucher_id)
         .outerjoin(by_voucher, by_voucher.id == VoucherRow.beneficiary_id))
    ids, found = list(operation_ids), {}
    with sf() as s:
        for start in range(0, len(ids), 500):  # an export holds up to 50,000: bounded IN lists
            q = base.where(OperationRow.id.in_(ids[start:start + 500]))
            found.update({op_id: Holder(program, card or voucher_card)
                          for op_id, program, card, voucher_card in s.execute(q)})
    return found

