"""The reference ledger's hot path (reference.py): its statements, compiled once and run on
the DBAPI cursor (adapters/fast_sql.py: SQLAlchemy's execution path cost more than the
database), and the reads that turn rows into rules.py's objects."""

from sqlalchemy import Integer, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from fleet_server.adapters.fast_sql import FastStatement
from fleet_server.reference_ledger import rules
from fleet_server.reference_ledger.tables import (
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

_PENDING = "pending"  # an idempotency record being answered; never committed in this state


class _Conflict(Exception):
    """A conditional UPDATE matched no row: the state changed since it was read; start over."""

_programs, _partners, _agreements = (ProgramRow.__table__, PartnerRow.__table__,
                                     AgreementRow.__table__)
_cards, _pots, _series = BeneficiaryRow.__table__, PotRow.__table__, CouponSeriesRow.__table__
_vouchers, _ops, _keys = VoucherRow.__table__, OperationRow.__table__, IdempotencyRow.__table__

# Idempotency records.

_STORED = FastStatement(
    select(_keys.c.status, _keys.c.code, _keys.c.amount_cents, _keys.c.balance_cents,
           _keys.c.operation_id, _keys.c.auth_code)
    .where(_keys.c.partner_id == bindparam("partner_id"),
           _keys.c.idempotency_key == bindparam("key")))
# Executed with the answer's columns as parameters: they make the SET clause.
_ANSWER = FastStatement(update(_keys).where(_keys.c.id == bindparam("claim_id")))


def _claim_statement(dialect: str) -> FastStatement:
    """INSERT the pending record unless the key is taken; RETURNING its id (none when taken)."""
    dialect_insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if dialect_insert is None:
        raise ValueError(f"the reference ledger runs on SQLite or PostgreSQL, not {dialect}")
    return FastStatement(
        dialect_insert(_keys)
        .on_conflict_do_nothing(index_elements=[_keys.c.partner_id, _keys.c.idempotency_key])
        .returning(_keys.c.id))


# What a debit reads. Nothing but pots, coupon series, vouchers and operations is locked.

_PARTNER = FastStatement(
    select(_partners.c.id, _partners.c.can_take_payments, _agreements.c.program_id,
           _agreements.c.category, _agreements.c.market_year, _agreements.c.status)
    .select_from(_partners.outerjoin(_agreements, _agreements.c.partner_id == _partners.c.id))
    .where(_partners.c.id == bindparam("partner_id")))

_CARD_COLS = (_cards.c.id, _cards.c.program_id, _cards.c.blocked,
              _programs.c.id.label("program_found"),
              _programs.c.market_year.label("program_year"), _programs.c.max_amount_cents)
# A card with its pots, locked, in one statement. No row: no card, or a card without pots.
_CARD_WITH_POTS_SQL = (
    select(*_CARD_COLS, _pots.c.id.label("pot_id"), _pots.c.category, _pots.c.balance_cents,
           _pots.c.per_purchase_cap_cents)
    .select_from(_cards.join(_programs, _programs.c.id == _cards.c.program_id)
                 .join(_pots, _pots.c.beneficiary_id == _cards.c.id))
    .order_by(_pots.c.id).with_for_update(of=_pots))
_CARD_WITH_POTS = FastStatement(
    _CARD_WITH_POTS_SQL.where(_cards.c.card_code == bindparam("token")))
_CARD = FastStatement(
    select(*_CARD_COLS)
    .select_from(_cards.outerjoin(_programs, _programs.c.id == _cards.c.program_id))
    .where(_cards.c.card_code == bindparam("token")))

_VOUCHER_COLS = (_vouchers.c.id, _vouchers.c.number, _vouchers.c.program_id,
                 _vouchers.c.category, _vouchers.c.value_cents, _vouchers.c.market_year,
                 _vouchers.c.expires_at, _vouchers.c.used_operation_id, _vouchers.c.series_id,
                 _vouchers.c.rank)
# A voucher with its program and its owner (when it has one); not locked yet, see _voucher_state.
_VOUCHER = FastStatement(
    select(*_VOUCHER_COLS, _programs.c.id.label("program_found"),
           _programs.c.market_year.label("program_year"), _programs.c.max_amount_cents,
           _cards.c.id.label("owner_id"), _cards.c.card_code.label("owner_card"),
           _cards.c.program_id.label("owner_program"), _cards.c.blocked.label("owner_blocked"))
    .select_from(_vouchers
                 .outerjoin(_programs, _programs.c.id == _vouchers.c.program_id)
                 .outerjoin(_cards, _cards.c.id == _vouchers.c.beneficiary_id))
    .where(_vouchers.c.number == bindparam("token")))
_LOCK_VOUCHER = FastStatement(
    select(*_VOUCHER_COLS).where(_vouchers.c.id == bindparam("voucher_id")).with_for_update())
_LOCK_SERIES = FastStatement(
    select(_series.c.id).where(_series.c.id == bindparam("series_id")).with_for_update())
_COUPONS = FastStatement(
    select(*_VOUCHER_COLS).where(_vouchers.c.series_id == bindparam("series_id"))
    .order_by(_vouchers.c.rank))

# What a debit changes.

_AMOUNT = bindparam("amount", type_=Integer)
_TAKE_FROM_POT = FastStatement(
    update(_pots).where(_pots.c.id == bindparam("pot_id"), _pots.c.balance_cents >= _AMOUNT)
    .values(balance_cents=_pots.c.balance_cents - _AMOUNT))
_USE_VOUCHER = FastStatement(
    update(_vouchers)
    .where(_vouchers.c.id == bindparam("voucher_id"), _vouchers.c.used_operation_id.is_(None))
    .values(used_operation_id=bindparam("operation_id",
                                        type_=_vouchers.c.used_operation_id.type)))
_NEW_OPERATION = FastStatement(insert(_ops))

# PostgreSQL, a card debit inside the fleet server's transaction (ReferenceLedger.within): the
# pot, the operation and the idempotency record with its answer in one statement, three round
# trips made one. The operation is inserted only if the pot had the money, the record only if
# the operation was; ON CONFLICT: a key already taken inserts no record. The caller checks
# both counts and rolls the whole transaction back unless each is one. ("o_" and "k_"
# parameters: an operation's and a record's columns; "amount" and "pot_id": the pot's.)
_OPERATION_COLUMNS = ("id", "partner_id", "program_id", "kind", "token", "beneficiary_id",
                      "pot_id", "voucher_id", "category", "market_year", "amount_cents",
                      "status", "auth_code", "device_id", "created_at", "requested_at")
_RECORD_COLUMNS = ("partner_id", "idempotency_key", "kind", "status", "code", "amount_cents",
                   "balance_cents", "operation_id", "auth_code", "created_at")


def _debit_pot_and_record() -> FastStatement:
    pot = (update(_pots).where(_pots.c.id == bindparam("pot_id"),
                               _pots.c.balance_cents >= _AMOUNT)
           .values(balance_cents=_pots.c.balance_cents - _AMOUNT)
           .returning(_pots.c.id).cte("taken"))
    operation = (insert(_ops).from_select(_OPERATION_COLUMNS, select(
        *[bindparam("o_" + name, type_=_ops.c[name].type) for name in _OPERATION_COLUMNS])
        .select_from(pot)).returning(_ops.c.id).cte("operation"))
    record = (postgresql.insert(_keys).from_select(_RECORD_COLUMNS, select(
        *[bindparam("k_" + name, type_=_keys.c[name].type) for name in _RECORD_COLUMNS])
        .select_from(operation))
        .on_conflict_do_nothing(index_elements=[_keys.c.partner_id, _keys.c.idempotency_key])
        .returning(_keys.c.id).cte("record"))
    return FastStatement(select(
        select(func.count()).select_from(pot).scalar_subquery().label("pots"),
        select(func.count()).select_from(record).scalar_subquery().label("records")))


_DEBIT_POT_AND_RECORD = _debit_pot_and_record()

# What a void reads and changes.

_OPERATION = FastStatement(
    select(_ops.c.id, _ops.c.partner_id, _ops.c.kind, _ops.c.status, _ops.c.amount_cents,
           _ops.c.pot_id, _ops.c.voucher_id, _ops.c.batch_id, _vouchers.c.series_id,
           _vouchers.c.rank)
    .select_from(_ops.outerjoin(_vouchers, _vouchers.c.id == _ops.c.voucher_id))
    .where(_ops.c.id == bindparam("operation_id"))
    .with_for_update(of=_ops))
# batch_id IS NULL: a settlement that batched the operation meanwhile wins, and we start over.
_VOID_OPERATION = FastStatement(
    update(_ops)
    .where(_ops.c.id == bindparam("operation_id"), _ops.c.status == rules.OP_APPROVED,
           _ops.c.batch_id.is_(None))
    .values(status=rules.OP_VOIDED, voided_at=bindparam("now", type_=_ops.c.voided_at.type)))
_GIVE_BACK_TO_POT = FastStatement(
    update(_pots).where(_pots.c.id == bindparam("pot_id"))
    .values(balance_cents=_pots.c.balance_cents + _AMOUNT)
    .returning(_pots.c.balance_cents))
_FREE_VOUCHER = FastStatement(
    update(_vouchers)
    .where(_vouchers.c.id == bindparam("voucher_id"),
           _vouchers.c.used_operation_id == bindparam("operation_id"))
    .values(used_operation_id=None))


def _check_names(partner_id: str, key: str) -> None:
    if not (isinstance(key, str) and 0 < len(key) <= 128):
        raise ValueError("idempotency key must be 1 to 128 characters")
    if not (isinstance(partner_id, str) and 0 < len(partner_id) <= 40):
        raise ValueError("partner id must be 1 to 40 characters")


def _partner(conn: Connection, partner_id: str
             ) -> tuple[rules.Partner | None, list[rules.Agreement]]:
    rows = _PARTNER.run(conn, {"partner_id": partner_id}).all()
    if not rows:
        return None, []
    partner = rules.Partner(rows[0].id, rows[0].can_take_payments)
    return partner, [rules.Agreement(partner.id, r.program_id, r.category, r.market_year,
                                     r.status) for r in rows if r.program_id is not None]


def _code(conn: Connection, token: str) -> tuple[
        rules.Program | None, rules.Beneficiary | None, rules.Voucher | None,
        rules.CouponSeries | None]:
    """The card or voucher behind `token`, its program, and the coupon series it belongs to,
    locked as the lock order says. Codes are unique within their kind, and card and voucher codes
    have different shapes: at most one of the lookups finds something."""
    rows = _CARD_WITH_POTS.run(conn, {"token": token}).all()
    if rows:
        return _card_with_pots(rows, token)
    row = _VOUCHER.run(conn, {"token": token}).first()
    if row is not None:
        owner = None
        if row.owner_id is not None:
            owner = rules.Beneficiary(row.owner_id, row.owner_card, row.owner_program,
                                      row.owner_blocked)
        voucher, series = _voucher_state(conn, row)
        return _program(row), owner, voucher, series
    row = _CARD.run(conn, {"token": token}).first()  # a card without pots, or nothing
    if row is None:
        return None, None, None, None
    return _program(row), _card(row, token, ()), None, None


def _card_with_pots(rows: list, token: str) -> tuple:
    """_code()'s answer for a card from its _CARD_WITH_POTS rows (one per pot, in id order)."""
    pots = tuple(rules.Pot(r.pot_id, r.category, r.balance_cents, r.per_purchase_cap_cents)
                 for r in rows)
    return _program(rows[0]), _card(rows[0], token, pots), None, None


def _voucher_state(conn: Connection, row: tuple) -> tuple[rules.Voucher,
                                                        rules.CouponSeries | None]:
    # Read again once locked: a plain voucher under its own lock, a coupon under its series'
    # (the series serialises everything done to its coupons, and comes first in the lock order).
    if row.series_id is None:
        return _voucher(_LOCK_VOUCHER.run(conn, {"voucher_id": row.id}).one()), None
    series = _lock_series(conn, row.series_id)
    return next(c for c in series.coupons if c.id == row.id), series


def _lock_series(conn: Connection, series_id: int | None) -> rules.CouponSeries | None:
    # Locking the series row serialises everything done to its coupons: a debit of coupon n+1
    # and a void of coupon n cannot both pass on what the other has not yet written.
    if series_id is None:
        return None
    _LOCK_SERIES.run(conn, {"series_id": series_id})
    coupons = _COUPONS.run(conn, {"series_id": series_id})
    return rules.CouponSeries(series_id, tuple(_voucher(c) for c in coupons))


def _program(row: tuple) -> rules.Program | None:
    if row.program_found is None:
        return None
    return rules.Program(row.program_found, row.program_year, row.max_amount_cents)


def _card(row: tuple, card_code: str, pots: tuple[rules.Pot, ...]) -> rules.Beneficiary:
    return rules.Beneficiary(row.id, card_code, row.program_id, row.blocked, pots)


def _voucher(row: tuple) -> rules.Voucher:
    return rules.Voucher(row.id, row.number, row.program_id, row.category, row.value_cents,
                         row.market_year, row.expires_at, row.used_operation_id, row.series_id,
                         row.rank)
