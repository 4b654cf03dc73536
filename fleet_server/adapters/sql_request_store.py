"""The debit path's store in SQLAlchemy Core, no ORM bookkeeping on the hot path.

With a remote ledger SqlRequestStore gives one short read transaction and one short write
transaction per request. With the reference ledger on the same database the same statements
run inside one transaction per request or group (sql_request_unit.py).

A request is named by (device_id, key_id, seq): a re-keyed terminal starts its DUKPT counter
again under its new Initial Key ID."""

from datetime import datetime

from sqlalchemy import BigInteger, and_, bindparam, case, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from fleet_server.adapters.fast_sql import FastStatement
from fleet_server.adapters.orm import device_requests as requests_t
from fleet_server.adapters.orm import devices as devices_t
from fleet_server.adapters.orm import from_row
from fleet_server.adapters.orm import partners as partners_t
from fleet_server.domain.devices import Device
from fleet_server.domain.partners import Partner
from fleet_server.domain.requests import ANSWERED, DEBIT, StoredRequest
from fleet_server.service_layer.unit_of_work import RequestStore

_DEVICE_COLS = [c for c in devices_t.c]
_PARTNER_COLS = [c.label("p_" + c.name) for c in partners_t.c]
_RESULT_FIELDS = ("status", "result_payload", "answered_at", "result_status", "result_code",
                  "operation_id")

# The statements are built once (bind parameters): building one per call costs more CPU than
# the database takes to run it. Parameters of an UPDATE named like a column would set it,
# hence the "w_" names in WHERE clauses.
_d, _r = devices_t.c, requests_t.c
_REQUEST_COLS = [c.label("r_" + c.name) for c in requests_t.c]
_KEY_ID = bindparam("key_id", type_=_r.key_id.type)


def with_requests(source, key_id, seq, sale_seq):
    """`source` (devices, or a table joined to them) with each device's partner and the stored
    requests asked for: the request and, for a void, its sale, under the key used (None: the
    current one), the device's current or its previous key."""
    return (source
            .outerjoin(partners_t, partners_t.c.partner_id == _d.partner_id)
            .outerjoin(requests_t, and_(
                _r.device_id == _d.device_id, _r.seq.in_([seq, sale_seq]),
                _r.key_id.in_([func.coalesce(key_id, _d.initial_key_id), _d.initial_key_id,
                               _d.previous_key_id]))))


# The device, its partner and the stored requests asked for, in one round trip: one row per
# request found, or one row with no request.
_LOAD = FastStatement(
    select(*_DEVICE_COLS, *_PARTNER_COLS, *_REQUEST_COLS)
    .select_from(with_requests(devices_t, _KEY_ID, bindparam("seq", type_=BigInteger),
                               bindparam("sale_seq", type_=BigInteger)))
    .where(_d.device_id == bindparam("device_id")))
_DEVICE_PART = slice(0, len(_DEVICE_COLS))
_PARTNER_PART = slice(len(_DEVICE_COLS), len(_DEVICE_COLS) + len(_PARTNER_COLS))
_REQUEST_PART = slice(_PARTNER_PART.stop, _PARTNER_PART.stop + len(_REQUEST_COLS))
_DEVICE_NAMES = [c.name for c in devices_t.c]
_PARTNER_NAMES = [c.name for c in partners_t.c]
_REQUEST_NAMES = [c.name for c in requests_t.c]
_INSERT = FastStatement(insert(requests_t))
_ANSWER = FastStatement(update(requests_t).where(
    _r.device_id == bindparam("w_device_id"), _r.key_id == bindparam("w_key_id"),
    _r.seq == bindparam("w_seq"), _r.status != ANSWERED))
_KEY, _SEQ = bindparam("w_key_id"), bindparam("w_seq", type_=BigInteger)  # up to 0xFFFFFFFF
# The highest counter of the key the request used: the current one or, during the grace
# period after a re-key, the previous one.
_RAISE_COUNTER_SQL = update(devices_t).where(_d.device_id == bindparam("w_device_id")).values(
    highest_seq=case((and_(_d.initial_key_id == _KEY, _d.highest_seq < _SEQ), _SEQ),
                     else_=_d.highest_seq),
    previous_highest_seq=case(
        (and_(_d.previous_key_id == _KEY, func.coalesce(_d.previous_highest_seq, 0) < _SEQ),
         _SEQ), else_=_d.previous_highest_seq))

# PostgreSQL: a new request's row and its key's counter in one statement, the INSERT as a CTE
# of the UPDATE (one round trip fewer per request); a duplicate request fails the whole
# statement as the INSERT alone would. SQLite has no data-modifying CTE: two statements. ("n_"
# parameters: a name of a column of devices would be taken for the UPDATE's SET clause.)
_INSERT_AND_RAISE = FastStatement(_RAISE_COUNTER_SQL.add_cte(insert(requests_t).values(
    {c.name: bindparam("n_" + c.name, type_=c.type) for c in requests_t.c})
    .cte("new_request")))
_RAISE_COUNTER = FastStatement(_RAISE_COUNTER_SQL)


class SqlRequestStore(RequestStore):
    def __init__(self, engine: Engine):
        self.engine = engine
        self._readonly = engine.execution_options(sqlite_readonly=True)

    def load(self, device_id, seq, original_seq=None, key_id=None):
        with self._readonly.connect() as conn:
            loaded = _load(conn, device_id, seq, original_seq, key_id)
            conn.rollback()
        return loaded

    def save(self, record, is_new):
        try:
            with self.engine.begin() as conn:
                _save(conn, record, is_new)
            return None
        except IntegrityError:
            with self._readonly.connect() as conn:
                return conn.execute(select(requests_t.c.result_payload).where(and_(
                    requests_t.c.device_id == record.device_id,
                    requests_t.c.key_id == record.key_id, requests_t.c.seq == record.seq,
                    requests_t.c.status == ANSWERED))).scalar()

    def switch_key(self, device_id: str, new_key_id: str, previous_until: datetime) -> None:
        with self.engine.begin() as conn:
            _switch_key(conn, device_id, new_key_id, previous_until)


def _load(conn: Connection, device_id, seq, original_seq, key_id):
    rows = _LOAD.run(conn, {"device_id": device_id, "key_id": key_id, "seq": seq,
                            "sale_seq": original_seq or seq}).all()
    return _assemble(rows, seq, original_seq, key_id)


def _assemble(rows: list, seq, original_seq, key_id):
    """(device, partner, the stored request, the stored sale) from _LOAD's rows."""
    if not rows:
        return None, None, None, None
    row = rows[0]
    device = from_row(Device, dict(zip(_DEVICE_NAMES, row[_DEVICE_PART], strict=True)))
    key_id = key_id or device.initial_key_id
    keys = _key_order(device, key_id)
    found = {(r.r_key_id, r.r_seq): _request(r) for r in rows if r.r_device_id is not None}
    partner = None
    if row.p_partner_id is not None:
        partner = from_row(Partner, dict(zip(_PARTNER_NAMES, row[_PARTNER_PART], strict=True)))
    sale = None
    if original_seq:
        sale = _first_sale(found, keys, original_seq)
    return device, partner, found.get((key_id, seq)), sale


def _save(conn: Connection, record: StoredRequest, is_new: bool) -> None:
    where = {"w_device_id": record.device_id, "w_key_id": record.key_id, "w_seq": record.seq}
    if is_new and conn.dialect.name == "postgresql":
        _INSERT_AND_RAISE.run(conn, {**{"n_" + k: v for k, v in _values(record).items()},
                                         **where})
        return
    if is_new:
        _INSERT.run(conn, _values(record))
    else:
        _ANSWER.run(conn, {**where, **{f: getattr(record, f) for f in _RESULT_FIELDS}})
    _RAISE_COUNTER.run(conn, where)


def _switch_key(conn: Connection, device_id, new_key_id, previous_until) -> None:
    # Conditional on the pending key: of several workers seeing the first use, one wins.
    conn.execute(update(devices_t).where(and_(
        devices_t.c.device_id == device_id, devices_t.c.pending_key_id == new_key_id))
        .values(previous_key_id=devices_t.c.initial_key_id,
                previous_highest_seq=devices_t.c.highest_seq,
                previous_key_until=previous_until, initial_key_id=new_key_id,
                highest_seq=0, pending_key_id=None,
                key_version=devices_t.c.key_version + 1))


def _key_order(device: Device, key_id: str) -> list[str]:
    keys = [key_id]
    for other in (device.initial_key_id, device.previous_key_id):
        if other and other not in keys:
            keys.append(other)
    return keys


def _first_sale(found: dict, keys: list[str], seq: int) -> StoredRequest | None:
    for key_id in keys:
        stored = found.get((key_id, seq))
        if stored is not None and stored.kind == DEBIT:
            return stored
    return found.get((keys[0], seq))


def _values(record: StoredRequest) -> dict:
    return {c.name: getattr(record, c.name) for c in requests_t.c}


def _request(row: tuple) -> StoredRequest:
    return from_row(StoredRequest, dict(zip(_REQUEST_NAMES, row[_REQUEST_PART], strict=True)))
