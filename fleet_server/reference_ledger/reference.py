"""The reference ledger: the embedded default adapter of the Ledger port, on the server's database.

Idempotency: each request key (scoped by partner) gets one row in ledger_idempotency_records,
claimed *before* the money moves (INSERT ... ON CONFLICT DO NOTHING) and completed in the same
transaction. A twin request running at the same moment waits on that unique key until the first
commits, then finds the key taken and reads the stored answer. So the same key always gets the
same answer and money moves at most once.

Atomicity: the rows a decision reads are locked (SELECT ... FOR UPDATE on PostgreSQL; on SQLite
every transaction is BEGIN IMMEDIATE, so writers take turns) and the changes are conditional
UPDATEs (`balance_cents >= amount`, `used_operation_id IS NULL`, `batch_id IS NULL`) whose row
count is checked: if anything changed under us, the whole transaction starts again. Lock order
everywhere: operation, coupon series, voucher, pots.

Speed: debits and voids are the hot path, so their statements are compiled once and run on the
DBAPI cursor (reference_sql.py): a card debit is a claim, two reads (partner with its
agreements; card with its program and pots), the UPDATE, the INSERT of the operation and the
answer. Inside the fleet server's transaction (within()) the record is written once with its
answer, and on PostgreSQL a card debit's UPDATE, INSERT and record are one statement. The
decision itself is rules.py's. The administration calls (admin.py, inherited) use the ORM.
"""

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import sessionmaker

from fleet_server.ledger.port import (
    APPROVED,
    DECLINED,
    CodeInfo,
    Conflict,
    DebitRequest,
    Ledger,
    LedgerResult,
    LedgerUnavailable,
    VoidRequest,
)
from fleet_server.reference_ledger import rules
from fleet_server.reference_ledger.admin import (
    LedgerAdmin,
    NotFound,
    OperationView,
    PotView,
    new_id,
    utcnow,
)
from fleet_server.reference_ledger.admin_lists import LedgerLists
from fleet_server.reference_ledger.reference_sql import (
    _ANSWER,
    _COUPONS,
    _DEBIT_POT_AND_RECORD,
    _FREE_VOUCHER,
    _GIVE_BACK_TO_POT,
    _NEW_OPERATION,
    _OPERATION,
    _PENDING,
    _STORED,
    _TAKE_FROM_POT,
    _USE_VOUCHER,
    _VOID_OPERATION,
    _VOUCHER,
    _check_names,
    _claim_statement,
    _code,
    _Conflict,
    _lock_series,
    _partner,
    _program,
    _voucher,
)
from fleet_server.reference_ledger.within import GroupWithin, Within

# The administration's names stay importable from here, where callers have always found them.
__all__ = ["Conflict", "NotFound", "OperationView", "PotView", "ReferenceLedger", "new_id",
           "utcnow"]

_ATTEMPTS = 5  # a conflict needs another request to win in between; five in a row is a fault

class ReferenceLedger(LedgerAdmin, LedgerLists, Ledger):
    def __init__(self, session_factory: sessionmaker,
                 clock: Callable[[], datetime] = utcnow):
        self._sf = session_factory  # the administration calls (admin.py) use sessions
        self._engine = session_factory.kw.get("bind")
        if self._engine is None:
            raise ValueError("the reference ledger needs a session factory bound to an engine")
        self._claim = _claim_statement(self._engine.dialect.name)
        # A card debit's three writes as one statement (data-modifying CTEs: PostgreSQL only).
        self._one_statement_debit = self._engine.dialect.name == "postgresql"
        self._clock = clock  # the ledger's own time decides an operation's settlement day

    # The port.

    def debit(self, request: DebitRequest) -> LedgerResult:
        return self._once(request.partner_id, request.idempotency_key, "debit",
                          lambda conn: self._debit(conn, request))

    def void(self, request: VoidRequest) -> LedgerResult:
        return self._once(request.partner_id, request.idempotency_key, "void",
                          lambda conn: self._void(conn, request))

    def lookup(self, partner_id: str, token: str) -> CodeInfo:
        # The debit's own decision for the voucher's value, in a transaction that is rolled
        # back: the answer is the refusal a debit would get now (used, out of order, not in
        # the agreement...) or none. Cards have no fixed value: unknown here.
        _check_names(partner_id, "lookup")
        if not isinstance(token, str) or not 0 < len(token) <= 64:
            return CodeInfo("unknown_code")
        try:
            # A plain BEGIN on SQLite: a lookup must not queue behind (or block) the debits.
            with self._engine.execution_options(sqlite_readonly=True).connect() as conn:
                row = _VOUCHER.run(conn, {"token": token}).first()
                if row is None:
                    return CodeInfo("unknown_code")
                partner, agreements = _partner(conn, partner_id)
                owner = None
                if row.owner_id is not None:
                    owner = rules.Beneficiary(row.owner_id, row.owner_card, row.owner_program,
                                              row.owner_blocked)
                series = None
                if row.series_id is not None:
                    coupons = _COUPONS.run(conn, {"series_id": row.series_id})
                    series = rules.CouponSeries(row.series_id,
                                                tuple(_voucher(c) for c in coupons))
                conn.rollback()
        except OperationalError as err:
            raise LedgerUnavailable(f"reference ledger database: {err.orig}") from err
        voucher = _voucher(row)
        decision = rules.decide_debit(
            amount_cents=voucher.value_cents, category=None, partner=partner,
            program=_program(row), agreements=agreements, beneficiary=owner, voucher=voucher,
            series=series, now=self._clock())
        code = decision.code if isinstance(decision, rules.Decline) else None
        return CodeInfo(code, voucher.value_cents, voucher.category)

    def within(self, conn: Connection, careful: bool = False,
               group: list[str | None] | None = None) -> Ledger:
        """The port, run inside the caller's transaction on `conn` (the fleet server's request
        and its result commit together with the money: one commit per debit). One attempt: a
        conflict raises Conflict and the caller rolls its whole transaction back and starts
        again; database errors are not translated.

        The idempotency record is written once, with the answer, after the work (one statement
        instead of a claim and an answer): a key answered before, or by a twin meanwhile, makes
        that INSERT find the key taken, and the whole transaction is rolled back. careful=True
        (the caller's next attempt) claims the key first, as debit() does, and so reads the
        stored answer instead of moving money.

        group (PostgreSQL, not careful): the tokens of the debits the transaction will make,
        in order; their cards are read together and their writes made together, when the
        caller calls flush() before committing (within.py)."""
        if group and not careful and self._one_statement_debit:
            return GroupWithin(self, conn, group)
        return Within(self, conn, careful)

    def _once(self, partner_id: str, key: str, kind: str,
              work: Callable[[Connection], LedgerResult]) -> LedgerResult:
        _check_names(partner_id, key)
        for _ in range(_ATTEMPTS):
            try:
                with self._engine.begin() as conn:
                    return self._attempt(conn, partner_id, key, kind, work)
            except (IntegrityError, _Conflict):
                continue  # a twin or a competitor won: the next round sees what it did
            except OperationalError as err:
                raise LedgerUnavailable(f"reference ledger database: {err.orig}") from err
        raise LedgerUnavailable("the request kept conflicting with others; try again")

    def _attempt(self, conn: Connection, partner_id: str, key: str, kind: str,
                 work: Callable[[Connection], LedgerResult]) -> LedgerResult:
        claim_id = self._claim.run(conn, {
            "partner_id": partner_id, "idempotency_key": key, "kind": kind,
            "status": _PENDING, "created_at": self._clock()}).scalar()
        if claim_id is None:  # answered before, or by a twin that just committed
            return _stored(_STORED.run(conn, {"partner_id": partner_id,
                                                  "key": key}).first())
        result = work(conn)
        _ANSWER.run(conn, {
            "claim_id": claim_id, "status": result.status, "code": result.code,
            "amount_cents": result.amount_cents, "balance_cents": result.balance_cents,
            "operation_id": result.operation_id, "auth_code": result.auth_code})
        return result

    def _debit(self, conn: Connection, req: DebitRequest, partners=None,
               record: bool = False, code: tuple | None = None, writes=None) -> LedgerResult:
        """record: also write the request's idempotency record with the answer (within()'s
        first attempt); a key already taken raises _Conflict. code: what _code() would read
        for the token, read (and locked) beforehand. writes (with record, for a card): a
        group's GroupWithin, which makes the writes later, all of the group's at once."""
        partner, agreements = (partners or _partner)(conn, req.partner_id)
        program, beneficiary, voucher, series = code or _code(conn, req.token)
        now = self._clock()
        decision = rules.decide_debit(
            amount_cents=req.amount_cents, category=req.category, partner=partner,
            program=program, agreements=agreements, beneficiary=beneficiary, voucher=voucher,
            series=series, now=now)
        if isinstance(decision, rules.Decline):
            result = LedgerResult(DECLINED, decision.code,
                                  amount_cents=decision.amount_cents or 0,
                                  balance_cents=decision.balance_cents)
            if record and writes is not None:
                writes.record(self._record_values(req, "debit", result))
                return result
            return self._record(conn, req, "debit", result) if record else result

        operation_id, balance = new_id("OP"), None
        if isinstance(decision, rules.DebitPot):
            pot = decision.pot
            kind, pot_id, voucher_id = rules.KIND_CARD, pot.id, None
            category, market_year = pot.category, program.market_year
            balance = decision.balance_after
        else:
            used = decision.voucher
            kind = rules.KIND_COUPON if used.series_id else rules.KIND_VOUCHER
            pot_id, voucher_id = None, used.id
            category, market_year = used.category, used.market_year
        auth_code = new_id(length=6)
        operation = {
            "id": operation_id, "partner_id": req.partner_id, "program_id": program.id,
            "kind": kind, "token": req.token,
            "beneficiary_id": beneficiary.id if beneficiary else None, "pot_id": pot_id,
            "voucher_id": voucher_id, "category": category, "market_year": market_year,
            "amount_cents": req.amount_cents, "status": rules.OP_APPROVED,
            "auth_code": auth_code, "device_id": req.device_id, "created_at": now,
            "requested_at": req.requested_at}
        result = LedgerResult(APPROVED, amount_cents=req.amount_cents, balance_cents=balance,
                              operation_id=operation_id, auth_code=auth_code)
        if pot_id is not None and record and writes is not None:
            writes.take(pot_id, decision.amount_cents, operation,
                        self._record_values(req, "debit", result))
            return result
        if pot_id is not None and record and self._one_statement_debit:
            counts = _DEBIT_POT_AND_RECORD.run(conn, {
                "pot_id": pot_id, "amount": decision.amount_cents,
                **{"o_" + name: value for name, value in operation.items()},
                **{"k_" + name: value for name, value in
                   self._record_values(req, "debit", result).items()}}).one()
            if counts.pots != 1 or counts.records != 1:
                raise _Conflict()  # the pot changed under us, or the key was taken
            return result
        if pot_id is not None:
            _must(_TAKE_FROM_POT.run(conn, {"pot_id": pot_id,
                                            "amount": decision.amount_cents}))
        else:
            _must(_USE_VOUCHER.run(conn, {"voucher_id": voucher_id,
                                          "operation_id": operation_id}))
        _NEW_OPERATION.run(conn, operation)
        return self._record(conn, req, "debit", result) if record else result

    def _record_values(self, req, kind: str, result: LedgerResult) -> dict:
        return {"partner_id": req.partner_id, "idempotency_key": req.idempotency_key,
                "kind": kind, "status": result.status, "code": result.code,
                "amount_cents": result.amount_cents, "balance_cents": result.balance_cents,
                "operation_id": result.operation_id, "auth_code": result.auth_code,
                "created_at": self._clock()}

    def _record(self, conn: Connection, req, kind: str, result: LedgerResult) -> LedgerResult:
        """The idempotency record written once, with its answer; a taken key: _Conflict."""
        if self._claim.run(conn, self._record_values(req, kind, result)).scalar() is None:
            raise _Conflict()
        return result

    def _void(self, conn: Connection, req: VoidRequest) -> LedgerResult:
        row = None
        if isinstance(req.operation_id, str):
            row = _OPERATION.run(conn, {"operation_id": req.operation_id}).first()
        operation = series = rank = None
        if row is not None:
            operation = rules.Operation(row.id, row.partner_id, row.kind, row.status,
                                        row.amount_cents, row.pot_id, row.voucher_id,
                                        row.batch_id)
            if row.voucher_id is not None:
                series, rank = _lock_series(conn, row.series_id), row.rank
        decision = rules.decide_void(operation=operation, partner_id=req.partner_id,
                                     series=series, rank=rank)
        if isinstance(decision, rules.Decline):
            return LedgerResult(DECLINED, decision.code)
        op = decision.operation
        _must(_VOID_OPERATION.run(conn, {"operation_id": op.id, "now": self._clock()}))
        balance = None
        if op.pot_id is not None:
            balance = _GIVE_BACK_TO_POT.run(conn, {"pot_id": op.pot_id,
                                                   "amount": op.amount_cents}).scalar()
            if balance is None:
                raise _Conflict()
        if op.voucher_id is not None:
            _must(_FREE_VOUCHER.run(conn, {"voucher_id": op.voucher_id,
                                           "operation_id": op.id}))
        return LedgerResult(APPROVED, amount_cents=op.amount_cents, balance_cents=balance,
                            operation_id=op.id, auth_code=new_id(length=6))


def _must(result) -> None:
    if result.rowcount != 1:
        raise _Conflict()


def _stored(row: tuple | None) -> LedgerResult:
    if row is None:  # the key's first request rolled back after all: claim it again
        raise _Conflict()
    return LedgerResult(row.status, row.code, row.amount_cents, row.balance_cents,
                        row.operation_id, row.auth_code)
