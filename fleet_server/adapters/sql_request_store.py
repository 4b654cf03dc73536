"""The debit path's store in SQLAlchemy Core: one short read transaction and one short write
transaction per request, no ORM bookkeeping on the hot path."""

from sqlalchemy import and_, case, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from fleet_server.adapters.orm import device_requests as requests_t
from fleet_server.adapters.orm import devices as devices_t
from fleet_server.adapters.orm import partners as partners_t
from fleet_server.domain.devices import Device
from fleet_server.domain.partners import Partner
from fleet_server.domain.requests import ANSWERED, StoredRequest
from fleet_server.service_layer.unit_of_work import RequestStore

_DEVICE_COLS = [c for c in devices_t.c]
_PARTNER_COLS = [c.label("p_" + c.name) for c in partners_t.c]
_RESULT_FIELDS = ("status", "result_payload", "answered_at", "result_status", "result_code",
                  "operation_id")


class SqlRequestStore(RequestStore):
    def __init__(self, engine: Engine):
        self.engine = engine
        self._readonly = engine.execution_options(sqlite_readonly=True)

    def load(self, device_id, seq, original_seq=None):
        with self._readonly.connect() as conn:
            row = conn.execute(
                select(*_DEVICE_COLS, *_PARTNER_COLS)
                .select_from(devices_t.outerjoin(
                    partners_t, partners_t.c.partner_id == devices_t.c.partner_id))
                .where(devices_t.c.device_id == device_id)).mappings().first()
            if row is None:
                return None, None, None, None
            wanted = [seq] + ([original_seq] if original_seq else [])
            stored = {r.seq: _request(r) for r in conn.execute(
                select(requests_t).where(and_(requests_t.c.device_id == device_id,
                                              requests_t.c.seq.in_(wanted)))).mappings()}
            conn.rollback()
        device = Device(**{c.name: row[c.name] for c in _DEVICE_COLS})
        partner = None
        if row["p_partner_id"] is not None:
            partner = Partner(**{c.name: row["p_" + c.name] for c in partners_t.c})
        return device, partner, stored.get(seq), stored.get(original_seq)

    def save(self, record, is_new):
        try:
            with self.engine.begin() as conn:
                if is_new:
                    conn.execute(insert(requests_t).values(**_values(record)))
                else:
                    conn.execute(update(requests_t).where(and_(
                        requests_t.c.device_id == record.device_id,
                        requests_t.c.seq == record.seq, requests_t.c.status != ANSWERED))
                        .values(**{f: getattr(record, f) for f in _RESULT_FIELDS}))
                conn.execute(update(devices_t)
                             .where(devices_t.c.device_id == record.device_id)
                             .values(highest_seq=case(
                                 (devices_t.c.highest_seq < record.seq, record.seq),
                                 else_=devices_t.c.highest_seq)))
            return None
        except IntegrityError:
            with self._readonly.connect() as conn:
                return conn.execute(select(requests_t.c.result_payload).where(and_(
                    requests_t.c.device_id == record.device_id, requests_t.c.seq == record.seq,
                    requests_t.c.status == ANSWERED))).scalar()


def _values(record: StoredRequest) -> dict:
    return {c.name: getattr(record, c.name) for c in requests_t.c}


def _request(row) -> StoredRequest:
    return StoredRequest(**{c.name: row[c.name] for c in requests_t.c})
