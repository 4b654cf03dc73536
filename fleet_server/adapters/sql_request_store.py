"""The debit path's store in SQLAlchemy Core: one short read transaction and one short write
transaction per request, no ORM bookkeeping on the hot path.

A request is named by (device_id, key_id, seq): a re-keyed terminal starts its DUKPT counter
again under its new Initial Key ID."""

from datetime import datetime

from sqlalchemy import and_, case, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from fleet_server.adapters.orm import device_requests as requests_t
from fleet_server.adapters.orm import devices as devices_t
from fleet_server.adapters.orm import partners as partners_t
from fleet_server.domain.devices import Device
from fleet_server.domain.partners import Partner
from fleet_server.domain.requests import ANSWERED, DEBIT, StoredRequest
from fleet_server.service_layer.unit_of_work import RequestStore

_DEVICE_COLS = [c for c in devices_t.c]
_PARTNER_COLS = [c.label("p_" + c.name) for c in partners_t.c]
_RESULT_FIELDS = ("status", "result_payload", "answered_at", "result_status", "result_code",
                  "operation_id")


class SqlRequestStore(RequestStore):
    def __init__(self, engine: Engine):
        self.engine = engine
        self._readonly = engine.execution_options(sqlite_readonly=True)

    def load(self, device_id, seq, original_seq=None, key_id=None):
        with self._readonly.connect() as conn:
            row = conn.execute(
                select(*_DEVICE_COLS, *_PARTNER_COLS)
                .select_from(devices_t.outerjoin(
                    partners_t, partners_t.c.partner_id == devices_t.c.partner_id))
                .where(devices_t.c.device_id == device_id)).mappings().first()
            if row is None:
                return None, None, None, None
            device = Device(**{c.name: row[c.name] for c in _DEVICE_COLS})
            key_id = key_id or device.initial_key_id
            keys = _key_order(device, key_id)
            wanted = [seq] + ([original_seq] if original_seq else [])
            found = {(r.key_id, r.seq): _request(r) for r in conn.execute(
                select(requests_t).where(and_(requests_t.c.device_id == device_id,
                                              requests_t.c.key_id.in_(keys),
                                              requests_t.c.seq.in_(wanted)))).mappings()}
            conn.rollback()
        partner = None
        if row["p_partner_id"] is not None:
            partner = Partner(**{c.name: row["p_" + c.name] for c in partners_t.c})
        sale = None
        if original_seq:
            sale = _first_sale(found, keys, original_seq)
        return device, partner, found.get((key_id, seq)), sale

    def save(self, record, is_new):
        try:
            with self.engine.begin() as conn:
                if is_new:
                    conn.execute(insert(requests_t).values(**_values(record)))
                else:
                    conn.execute(update(requests_t).where(and_(
                        requests_t.c.device_id == record.device_id,
                        requests_t.c.key_id == record.key_id,
                        requests_t.c.seq == record.seq, requests_t.c.status != ANSWERED))
                        .values(**{f: getattr(record, f) for f in _RESULT_FIELDS}))
                conn.execute(update(devices_t)
                             .where(devices_t.c.device_id == record.device_id)
                             .values(**_raise_counter(record.key_id, record.seq)))
            return None
        except IntegrityError:
            with self._readonly.connect() as conn:
                return conn.execute(select(requests_t.c.result_payload).where(and_(
                    requests_t.c.device_id == record.device_id,
                    requests_t.c.key_id == record.key_id, requests_t.c.seq == record.seq,
                    requests_t.c.status == ANSWERED))).scalar()

    def switch_key(self, device_id: str, new_key_id: str, previous_until: datetime) -> None:
        # Conditional on the pending key: of several workers seeing the first use, one wins.
        with self.engine.begin() as conn:
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


def _raise_counter(key_id: str, seq: int) -> dict:
    # The highest counter of the key the request used: the current one or, during the grace
    # period after a re-key, the previous one.
    d = devices_t.c
    return {
        "highest_seq": case((and_(d.initial_key_id == key_id, d.highest_seq < seq), seq),
                            else_=d.highest_seq),
        "previous_highest_seq": case(
            (and_(d.previous_key_id == key_id,
                  func.coalesce(d.previous_highest_seq, 0) < seq), seq),
            else_=d.previous_highest_seq),
    }


def _values(record: StoredRequest) -> dict:
    return {c.name: getattr(record, c.name) for c in requests_t.c}


def _request(row) -> StoredRequest:
    return StoredRequest(**{c.name: row[c.name] for c in requests_t.c})
