"""The request store and the reference ledger on one connection: one transaction per request,
or per group of requests (RequestUnit), so the request record, the money and the result
commit together.

A group (PostgreSQL) is also read and written as a group where that keeps the outcome of one
request at a time: the devices of the requests alone on their device in the group are read in
one statement beforehand (_InGroup), the ledger reads the cards together (GroupWithin), and the
new request records with their counters, like the ledger's writes, wait for flush() just before
the commit. Anything else reads or writes at once, after what waits: a request of a device
that has two in the group, a retransmission among them, sees the earlier ones."""

import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import contextmanager, nullcontext

from sqlalchemy import BigInteger, String, and_, bindparam, case, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from fleet_server.adapters.fast_sql import FastStatement, dump_rows, json_rows
from fleet_server.adapters.sql_request_store import (
    _DEVICE_COLS,
    _PARTNER_COLS,
    _REQUEST_COLS,
    _assemble,
    _load,
    _save,
    _switch_key,
    _values,
    devices_t,
    requests_t,
    with_requests,
)
from fleet_server.ledger.port import Conflict, Ledger
from fleet_server.service_layer.unit_of_work import (
    Expected,
    RequestStore,
    RequestUnit,
    RetryRequest,
)

_RETRYABLE = {"40P01", "40001"}  # deadlock detected, serialization failure


class _InTransaction(RequestStore):
    """The store inside a RequestUnit's transaction: nothing commits here."""

    def __init__(self, conn: Connection):
        self.conn = conn

    def load(self, device_id, seq, original_seq=None, key_id=None):
        return _load(self.conn, device_id, seq, original_seq, key_id)

    def save(self, record, is_new):
        try:
            _save(self.conn, record, is_new)
        except IntegrityError as err:  # a twin stored it first: roll back all, read its answer
            raise RetryRequest() from err
        return None

    def switch_key(self, device_id, new_key_id, previous_until):
        _switch_key(self.conn, device_id, new_key_id, previous_until)

    def flush(self) -> None:
        """Nothing waits here."""


class _InGroup(_InTransaction):
    """PostgreSQL, a group: devices read together first, new records written together last."""

    def __init__(self, conn: Connection, group: list[Expected]):
        super().__init__(conn)
        self._new: list[dict] = []  # new request records, for flush()
        per_device = Counter(expected.device_id for expected in group)
        alone = [e for e in group if per_device[e.device_id] == 1]
        self._loaded = _load_many(conn, alone) if alone else {}

    def load(self, device_id, seq, original_seq=None, key_id=None):
        found = self._loaded.pop((device_id, seq, original_seq, key_id), None)
        if found is not None:
            return found
        self.flush()
        return super().load(device_id, seq, original_seq, key_id)

    def save(self, record, is_new):
        if is_new:
            self._new.append(_values(record))
            return None
        self.flush()
        return super().save(record, is_new)

    def switch_key(self, device_id, new_key_id, previous_until):
        self.flush()
        super().switch_key(device_id, new_key_id, previous_until)

    def flush(self) -> None:
        if not self._new:
            return
        new, self._new = self._new, []
        rounds = _counter_rounds(new)
        try:
            _SAVE_MANY.run(self.conn, {"new": dump_rows(new), **rounds[0]})
            for more in rounds[1:]:
                _RAISE_MANY.run(self.conn, more)
        except IntegrityError as err:  # a twin stored one of them first: the group again
            raise RetryRequest() from err


class SqlRequestUnit(RequestUnit):
    """The request store and the reference ledger on one connection, one transaction."""

    def __init__(self, engine: Engine, ledger, wrap: Callable[[Ledger], Ledger] = lambda x: x):
        self.engine, self.ledger, self.wrap = engine, ledger, wrap
        self._groups = engine.dialect.name == "postgresql"
        # SQLite lets one writer in at a time and makes the others sleep and retry (busy
        # timeout), so with groups of requests some workers waited seconds while others went
        # in again and again; the workers of this process take turns on a lock instead.
        self._turns = threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()

    @contextmanager
    def __call__(self, careful: bool = False, group: list[Expected] | None = None):
        try:
            with self._turns, self.engine.begin() as conn:
                if group and len(group) > 1 and self._groups and not careful:
                    store = _InGroup(conn, group)
                    ledger = self.ledger.within(conn, group=[e.token for e in group])
                else:
                    store, ledger = _InTransaction(conn), self.ledger.within(conn, careful)
                yield store, self.wrap(ledger)
                ledger.flush()
                store.flush()
        except (IntegrityError, Conflict) as err:
            raise RetryRequest() from err
        except OperationalError as err:
            # Two transactions each waiting on the other's rows: the database chose this one.
            if getattr(err.orig, "sqlstate", None) in _RETRYABLE:
                raise RetryRequest() from err
            raise


def request_unit(engine: Engine, ledger, wrap: Callable[[Ledger], Ledger] = lambda x: x
                 ) -> RequestUnit | None:
    """The one-transaction path when `ledger` is the reference ledger on `engine`'s database;
    None for any other ledger (a remote one keeps its own transactions)."""
    if getattr(ledger, "within", None) is None or getattr(ledger, "_engine", None) is not engine:
        return None
    return SqlRequestUnit(engine, ledger, wrap)


def _load_many(conn: Connection, wanted: list[Expected]) -> dict[tuple, tuple]:
    """What _load() returns for each expected request, keyed by load()'s arguments."""
    rows = _LOAD_MANY.run(conn, {
        "device_ids": [e.device_id for e in wanted], "key_ids": [e.key_id for e in wanted],
        "seqs": [e.seq for e in wanted],
        "sale_seqs": [e.original_seq or e.seq for e in wanted]}).all()
    by_ordinal = defaultdict(list)
    for row in rows:
        by_ordinal[row.w_i].append(row)
    return {(e.device_id, e.seq, e.original_seq, e.key_id):
            _assemble(by_ordinal.get(ordinal, []), e.seq, e.original_seq, e.key_id)
            for ordinal, e in enumerate(wanted, 1)}


def _counter_rounds(new: list[dict]) -> list[dict]:
    """The highest counter per device and key among new records, as _RAISE_MANY's parameters:
    one device per round (an UPDATE ... FROM changes a row once), a second key of a device
    (a re-key's grace period) in a second round."""
    highest: dict[tuple, int] = {}
    for row in new:
        key = (row["device_id"], row["key_id"])
        highest[key] = max(highest.get(key, row["seq"]), row["seq"])
    rounds: list[list[tuple]] = []
    per_device: Counter = Counter()
    for (device_id, key_id), seq in highest.items():
        index = per_device[device_id]
        per_device[device_id] += 1
        if index == len(rounds):
            rounds.append([])
        rounds[index].append((device_id, key_id, seq))
    return [{"r_device_ids": [r[0] for r in rnd], "r_key_ids": [r[1] for r in rnd],
             "r_seqs": [r[2] for r in rnd]} for rnd in rounds]


_d, _r = devices_t.c, requests_t.c
# The loads of several requests in one statement: _LOAD's rows for each, told apart by the
# asked request's ordinal (w_i, the last column).
_WANTED = func.unnest(
    bindparam("device_ids", type_=ARRAY(String)), bindparam("key_ids", type_=ARRAY(String)),
    bindparam("seqs", type_=ARRAY(BigInteger)), bindparam("sale_seqs", type_=ARRAY(BigInteger))
).table_valued("w_device_id", "w_key_id", "w_seq", "w_sale_seq",
               with_ordinality="w_i").render_derived()
_LOAD_MANY = FastStatement(
    select(*_DEVICE_COLS, *_PARTNER_COLS, *_REQUEST_COLS, _WANTED.c.w_i)
    .select_from(with_requests(_WANTED.join(devices_t, _d.device_id == _WANTED.c.w_device_id),
                               _WANTED.c.w_key_id, _WANTED.c.w_seq, _WANTED.c.w_sale_seq)))
# Raise each device's highest counter of the key used, as _RAISE_COUNTER does for one.
_RAISED = func.unnest(
    bindparam("r_device_ids", type_=ARRAY(String)), bindparam("r_key_ids", type_=ARRAY(String)),
    bindparam("r_seqs", type_=ARRAY(BigInteger))
).table_valued("device_id", "key_id", "seq").render_derived()
_RAISE_MANY_SQL = update(devices_t).where(_d.device_id == _RAISED.c.device_id).values(
    highest_seq=case(
        (and_(_d.initial_key_id == _RAISED.c.key_id, _d.highest_seq < _RAISED.c.seq),
         _RAISED.c.seq), else_=_d.highest_seq),
    previous_highest_seq=case(
        (and_(_d.previous_key_id == _RAISED.c.key_id,
              func.coalesce(_d.previous_highest_seq, 0) < _RAISED.c.seq),
         _RAISED.c.seq), else_=_d.previous_highest_seq))
_RAISE_MANY = FastStatement(_RAISE_MANY_SQL)
# The new records (an INSERT from arrays, as a CTE) and the first round of counters.
_NEW = json_rows("new", list(requests_t.c))
_SAVE_MANY = FastStatement(_RAISE_MANY_SQL.add_cte(
    insert(requests_t).from_select([c.name for c in requests_t.c],
                                   select(*[_NEW.c[c.name] for c in requests_t.c]))
    .cte("new_requests")))
