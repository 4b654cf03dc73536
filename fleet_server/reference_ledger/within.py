"""The reference ledger inside the fleet server's transaction (ReferenceLedger.within): one
request at a time (Within), or a group of them on PostgreSQL (GroupWithin).

A group is the requests one worker found queued (service_layer/money_batches.py), handled in
order in one transaction. Card debits are most of them, and each took three statements of its
own (the partner's agreements aside): the card with its pots locked, then the pot, the
operation and the idempotency record. In a group, the cards that appear once in it are read
and locked together first (one statement, pots in id order: the same lock order for every
group), and the writes of their debits are made together at the end (one statement, flush()),
with the same conditions as one at a time: a pot that no longer has the money or a key already
taken rolls the whole transaction back, and the fleet server handles each request again on
its own. Each pot read that way serves one debit, so what the decision read is what the pot
holds when its write is made. Anything else (a voucher, a card that appears twice, a void)
runs at once as Within does, after the writes that wait, and a void drops what was read of
the cards (it gives money back to a pot).
"""

from collections import defaultdict
from collections.abc import Callable

from sqlalchemy import String, any_, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

from fleet_server.adapters.fast_sql import FastStatement, dump_rows, json_rows
from fleet_server.ledger.port import Conflict, DebitRequest, Ledger, LedgerResult, VoidRequest
from fleet_server.reference_ledger.reference_sql import (
    _CARD_WITH_POTS_SQL,
    _OPERATION_COLUMNS,
    _RECORD_COLUMNS,
    _card_with_pots,
    _cards,
    _check_names,
    _Conflict,
    _keys,
    _ops,
    _partner,
    _pots,
)


class Within(Ledger):
    def __init__(self, ledger, conn: Connection, careful: bool):
        self._ledger, self._conn, self._careful = ledger, conn, careful
        # A partner and its agreements, read once per transaction (a group of requests is
        # mostly one partner's terminals). Nothing locks those rows in either path: a debit
        # decides on them as read at some moment of its transaction, here its first read.
        self._partners: dict[str, tuple] = {}

    def debit(self, request: DebitRequest) -> LedgerResult:
        return self._one(request, "debit",
                         lambda conn, record: self._ledger._debit(conn, request, self._partner,
                                                                  record))

    def _partner(self, conn: Connection, partner_id: str) -> tuple:
        found = self._partners.get(partner_id)
        if found is None:
            found = self._partners[partner_id] = _partner(conn, partner_id)
        return found

    def void(self, request: VoidRequest) -> LedgerResult:
        def work(conn: Connection, record: bool) -> LedgerResult:
            result = self._ledger._void(conn, request)
            return self._ledger._record(conn, request, "void", result) if record else result

        return self._one(request, "void", work)

    def flush(self) -> None:
        """Nothing waits: every statement ran when its request asked."""

    def _one(self, request, kind, work: Callable) -> LedgerResult:
        _check_names(request.partner_id, request.idempotency_key)
        ledger, conn = self._ledger, self._conn
        try:
            if self._careful:
                return ledger._attempt(conn, request.partner_id, request.idempotency_key, kind,
                                       lambda conn: work(conn, False))
            return work(conn, True)  # the record written with the answer: a taken key fails
        except _Conflict as err:  # the key was taken, or the state changed: undo, start again
            raise Conflict() from err


class GroupWithin(Within):
    """A group's card debits: cards read together first, their writes together last."""

    def __init__(self, ledger, conn: Connection, tokens: list[str | None]):
        super().__init__(ledger, conn, careful=False)
        self._codes = _cards_of(conn, tokens)  # token -> _code()'s answer, for one debit
        self._taken: dict[int, int] = {}  # pot id -> cents
        self._operations: list[dict] = []
        self._records: list[dict] = []

    def debit(self, request: DebitRequest) -> LedgerResult:
        code = self._codes.pop(request.token, None)
        if code is None:
            self.flush()
            return super().debit(request)
        _check_names(request.partner_id, request.idempotency_key)
        return self._ledger._debit(self._conn, request, self._partner, record=True, code=code,
                                   writes=self)

    def void(self, request: VoidRequest) -> LedgerResult:
        self.flush()
        self._codes.clear()  # the void may give money back to a pot read above
        return super().void(request)

    # What _debit hands over instead of writing (writes=self).

    def take(self, pot_id: int, amount_cents: int, operation: dict, record: dict) -> None:
        self._taken[pot_id] = self._taken.get(pot_id, 0) + amount_cents
        self._operations.append(operation)
        self._records.append(record)

    def record(self, record: dict) -> None:
        self._records.append(record)

    def flush(self) -> None:
        if not self._records:
            return
        taken, operations, records = self._taken, self._operations, self._records
        self._taken, self._operations, self._records = {}, [], []
        counts = _WRITE_MANY.run(self._conn, {
            "pots": dump_rows([{"id": pot_id, "balance_cents": cents}
                               for pot_id, cents in taken.items()]),
            "operations": dump_rows(operations), "records": dump_rows(records)}).one()
        if (counts.pots, counts.operations, counts.records) != (
                len(taken), len(operations), len(records)):
            raise Conflict()  # a pot changed under us (not expected: locked), or a key taken


def _cards_of(conn: Connection, tokens: list[str | None]) -> dict[str, tuple]:
    """The cards (with pots) of the tokens that appear once, locked: token -> what _code()
    returns for it. Other tokens are read when their debit comes."""
    seen: dict[str, int] = defaultdict(int)
    for token in tokens:
        if token:
            seen[token] += 1
    once = [token for token, count in seen.items() if count == 1]
    if not once:
        return {}
    rows = defaultdict(list)
    for row in _CARDS_WITH_POTS.run(conn, {"tokens": once}).all():
        rows[row.card_code].append(row)
    return {token: _card_with_pots(found, token) for token, found in rows.items()}


# The cards of a group with their pots, locked in pot id order (every group the same order):
# _code()'s card statement for several codes at once.
_CARDS_WITH_POTS = FastStatement(
    _CARD_WITH_POTS_SQL.add_columns(_cards.c.card_code)
    .where(_cards.c.card_code == any_(bindparam("tokens", type_=ARRAY(String)))))


def _write_many() -> FastStatement:
    """The group's pots, operations and idempotency records in one statement, each counted:
    the caller rolls back unless every pot paid and every record was new."""
    given = json_rows("pots", [_pots.c.id, _pots.c.balance_cents])  # cents to take
    pots = (update(_pots).where(_pots.c.id == given.c.id,
                                _pots.c.balance_cents >= given.c.balance_cents)
            .values(balance_cents=_pots.c.balance_cents - given.c.balance_cents)
            .returning(_pots.c.id).cte("pots"))
    new_ops = json_rows("operations", [_ops.c[name] for name in _OPERATION_COLUMNS])
    operations = (insert(_ops).from_select(_OPERATION_COLUMNS, select(
        *[new_ops.c[name] for name in _OPERATION_COLUMNS])).returning(_ops.c.id)
        .cte("operations"))
    new_records = json_rows("records", [_keys.c[name] for name in _RECORD_COLUMNS])
    records = (postgresql.insert(_keys).from_select(_RECORD_COLUMNS, select(
        *[new_records.c[name] for name in _RECORD_COLUMNS]))
        .on_conflict_do_nothing(index_elements=[_keys.c.partner_id, _keys.c.idempotency_key])
        .returning(_keys.c.id).cte("records"))
    return FastStatement(select(*[
        select(func.count()).select_from(cte).scalar_subquery().label(cte.name)
        for cte in (pots, operations, records)]))


_WRITE_MANY = _write_many()
