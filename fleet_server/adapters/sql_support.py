"""The support desk's storage in SQL (SQLAlchemy Core): SQLite and PostgreSQL alike."""

import json
import logging
from datetime import datetime

from sqlalchemy import Engine, and_, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import OperationalError

from fleet_server.adapters import orm
from fleet_server.adapters.orm_support import (
    support_alerts,
    support_audit,
    support_commands,
    support_events,
    support_interventions,
    support_notes,
    support_samples,
)
from fleet_server.domain.support import AuditEntry, Command, Intervention, Note, TimelineEvent
from fleet_server.domain.support_alerts import Alert
from fleet_server.service_layer.support_ports import Seen, SupportStore, TerminalInfo

log = logging.getLogger("fleet.status")
_ATTEMPTS = 3
_RETRYABLE = {"40P01", "40001"}  # deadlock detected, serialization failure

_D, _P = orm.devices.c, orm.partners.c
_TERMINAL = select(_D.device_id, _D.state, _D.model, _D.key_version, _D.firmware_version,
                   _D.last_seen_at, _D.partner_id, _P.name, _P.phone, _P.email, _P.address,
                   _D.claimed_at).select_from(orm.devices.outerjoin(orm.partners,
                                                       _D.partner_id == _P.partner_id))


def _terminal(row) -> TerminalInfo:
    return TerminalInfo(row.device_id, row.state, row.model, row.key_version or 1,
                        row.firmware_version, row.last_seen_at, row.partner_id, row.name,
                        row.phone, row.email, row.address, row.claimed_at)


def _command(row) -> Command:
    return Command(row.id, row.device_id, row.name, json.loads(row.args), row.reason,
                   row.requested_by, row.requested_at, row.expires_at, row.timeout_s,
                   row.state, row.sent_at, row.deadline_at, row.answered_at, row.ok, row.code,
                   json.loads(row.result) if row.result else None, row.intervention_id)


def _command_values(c: Command) -> dict:
    return {"id": c.command_id, "device_id": c.device_id, "name": c.name,
            "args": json.dumps(c.args, sort_keys=True), "reason": c.reason,
            "requested_by": c.requested_by, "requested_at": c.requested_at,
            "expires_at": c.expires_at, "timeout_s": c.timeout_s, "state": c.state,
            "sent_at": c.sent_at, "deadline_at": c.deadline_at, "answered_at": c.answered_at,
            "ok": c.ok, "code": c.code,
            "result": json.dumps(c.result, sort_keys=True) if c.result is not None else None,
            "intervention_id": c.intervention_id}


def _intervention(row) -> Intervention:
    return Intervention(row.id, row.device_id, row.partner_id, row.category, row.status,
                        row.title, row.opened_by, row.opened_at, row.updated_at,
                        row.resolved_at, row.alert_id)


def _alert(row) -> Alert:
    return Alert(row.device_id, row.kind, row.severity, _json(row.details), row.raised_at,
                 row.cleared_at, row.id, row.partner_id, text=row.summary)


def _event(row) -> TimelineEvent:
    return TimelineEvent(row.device_id, row.at, row.kind, row.code, _json(row.details) or {},
                         row.id, text=row.summary)


def _json(text: str | None):
    return json.loads(text) if text else None


class SqlSupportStore(SupportStore):
    def __init__(self, engine: Engine):
        self.engine = engine
        self._read = engine.execution_options(sqlite_readonly=True)

    # registry
    def terminals(self) -> list[TerminalInfo]:
        with self._read.connect() as conn:
            return [_terminal(r) for r in conn.execute(_TERMINAL.order_by(_D.device_id))]

    def device_ids(self) -> list[str]:
        with self._read.connect() as conn:
            return list(conn.execute(select(_D.device_id)).scalars())

    def is_registered(self, device_id: str) -> bool:
        with self._read.connect() as conn:
            return conn.execute(select(_D.device_id).where(_D.device_id == device_id)
                                ).first() is not None

    def terminal(self, device_id: str) -> TerminalInfo | None:
        with self._read.connect() as conn:
            row = conn.execute(_TERMINAL.where(_D.device_id == device_id)).first()
        return _terminal(row) if row else None

    # status, samples, timeline
    def write_batch(self, seen: list[Seen], events: list[TimelineEvent]) -> None:
        latest: dict[str, Seen] = {}
        for item in seen:
            latest[item.device_id] = item
        # Rows are updated in device id order, so that two writers (a lease changing hands)
        # take the devices' locks in the same order.
        ordered = [latest[device_id] for device_id in sorted(latest)]
        with_fw = [{"d": s.device_id, "at": s.at, "fw": s.firmware} for s in ordered
                   if s.firmware]
        without_fw = [{"d": s.device_id, "at": s.at} for s in ordered if not s.firmware]
        samples = [{"device_id": s.device_id, "at": s.at, "rssi": s.rssi, "heap": s.heap}
                   for s in seen if s.sample]
        rows = [{"device_id": e.device_id, "at": e.at, "kind": e.kind, "code": e.code,
                 "details": json.dumps(e.details, sort_keys=True), "summary": e.text}
                for e in events]
        for attempt in range(_ATTEMPTS):
            try:
                return self._write(with_fw, without_fw, samples, rows)
            except OperationalError as err:
                # A group of debits holds device rows in its queue's order: PostgreSQL may
                # pick this batch to break a deadlock with it. Nothing was written; again.
                if getattr(err.orig, "sqlstate", None) not in _RETRYABLE or \
                        attempt == _ATTEMPTS - 1:
                    raise
                log.info("status batch met a deadlock; written again")

    def _write(self, with_fw, without_fw, samples, rows) -> None:
        with self.engine.begin() as conn:
            if with_fw:
                conn.execute(update(orm.devices).where(_D.device_id == bindparam("d"))
                             .values(last_seen_at=bindparam("at"),
                                     firmware_version=bindparam("fw")), with_fw)
            if without_fw:
                conn.execute(update(orm.devices).where(_D.device_id == bindparam("d"))
                             .values(last_seen_at=bindparam("at")), without_fw)
            if samples:
                conn.execute(insert(support_samples), samples)
            if rows:
                conn.execute(insert(support_events), rows)

    def timeline(self, device_id, limit=100, before_id=None) -> list[TimelineEvent]:
        c = support_events.c
        query = select(support_events).where(c.device_id == device_id)
        if before_id is not None:
            query = query.where(c.id < before_id)
        with self._read.connect() as conn:
            rows = conn.execute(query.order_by(c.id.desc()).limit(limit))
            return [_event(r) for r in rows]

    def samples(self, device_id, since):
        c = support_samples.c
        with self._read.connect() as conn:
            rows = conn.execute(select(c.at, c.rssi, c.heap).where(
                c.device_id == device_id, c.at >= since).order_by(c.at).limit(5000))
            return [(r.at, r.rssi, r.heap) for r in rows]

    def prune(self, events_per_device: int, samples_before: datetime) -> int:
        c = support_events.c
        with self.engine.begin() as conn:
            gone = conn.execute(delete(support_samples).where(
                support_samples.c.at < samples_before)).rowcount
            crowded = conn.execute(select(c.device_id).group_by(c.device_id).having(
                func.count() > events_per_device)).scalars().all()
            for device_id in crowded:
                floor = conn.execute(select(c.id).where(c.device_id == device_id)
                                     .order_by(c.id.desc()).offset(events_per_device - 1)
                                     .limit(1)).scalar()
                gone += conn.execute(delete(support_events).where(
                    c.device_id == device_id, c.id < floor)).rowcount
        return gone

    # commands
    def add_command(self, command: Command) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(support_commands).values(**_command_values(command)))

    def save_command(self, command: Command) -> None:
        values = _command_values(command)
        with self.engine.begin() as conn:
            conn.execute(update(support_commands).where(
                support_commands.c.id == values.pop("id")).values(**values))

    def command(self, command_id: str) -> Command | None:
        with self._read.connect() as conn:
            row = conn.execute(select(support_commands).where(
                support_commands.c.id == command_id)).first()
        return _command(row) if row else None

    def commands(self, device_id=None, states=(), intervention_id=None, limit=100):
        c = support_commands.c
        query = select(support_commands)
        if device_id:
            query = query.where(c.device_id == device_id)
        if states:
            query = query.where(c.state.in_(states))
        if intervention_id is not None:
            query = query.where(c.intervention_id == intervention_id)
        with self._read.connect() as conn:
            rows = conn.execute(query.order_by(c.requested_at.desc()).limit(limit))
            return [_command(r) for r in rows]

    # interventions
    def add_intervention(self, item: Intervention) -> int:
        with self.engine.begin() as conn:
            return conn.execute(insert(support_interventions).values(
                device_id=item.device_id, partner_id=item.partner_id, category=item.category,
                status=item.status, title=item.title, opened_by=item.opened_by,
                opened_at=item.opened_at, updated_at=item.updated_at,
                resolved_at=item.resolved_at, alert_id=item.alert_id
            ).returning(support_interventions.c.id)).scalar_one()

    def save_intervention(self, item: Intervention) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(support_interventions).where(
                support_interventions.c.id == item.intervention_id).values(
                category=item.category, status=item.status, title=item.title,
                updated_at=item.updated_at, resolved_at=item.resolved_at))

    def add_note(self, intervention_id: int, note: Note) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(support_notes).values(
                intervention_id=intervention_id, at=note.at, author=note.author,
                text=note.text))

    def intervention(self, intervention_id: int) -> Intervention | None:
        with self._read.connect() as conn:
            row = conn.execute(select(support_interventions).where(
                support_interventions.c.id == intervention_id)).first()
            if row is None:
                return None
            item = _intervention(row)
            n = support_notes.c
            item.notes = [Note(r.at, r.author, r.text) for r in conn.execute(
                select(support_notes).where(n.intervention_id == intervention_id)
                .order_by(n.id))]
        return item

    def interventions(self, device_id=None, status=None, category=None, partner_id=None,
                      limit=100):
        c = support_interventions.c
        where = [cond for cond in (
            c.device_id == device_id if device_id else None,
            c.status == status if status else None,
            c.category == category if category else None,
            c.partner_id == partner_id if partner_id else None) if cond is not None]
        with self._read.connect() as conn:
            query = select(support_interventions)
            if where:
                query = query.where(and_(*where))
            rows = conn.execute(query.order_by(c.id.desc()).limit(limit))
            return [_intervention(r) for r in rows]

    # audit
    def audit(self, entry: AuditEntry) -> int:
        with self.engine.begin() as conn:
            return conn.execute(insert(support_audit).values(
                at=entry.at, actor=entry.actor[:120], role=entry.role[:16],
                action=entry.action[:40], device_id=entry.device_id, target=entry.target,
                reason=entry.reason, result=(entry.result or "")[:500] or None
            ).returning(support_audit.c.id)).scalar_one()

    def audit_result(self, target: str, result: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(support_audit).where(support_audit.c.target == target)
                         .values(result=result[:500]))

    def audit_log(self, device_id=None, actor=None, limit=100) -> list[AuditEntry]:
        c = support_audit.c
        query = select(support_audit)
        if device_id:
            query = query.where(c.device_id == device_id)
        if actor:
            query = query.where(c.actor == actor)
        with self._read.connect() as conn:
            return [AuditEntry(r.at, r.actor, r.role, r.action, r.device_id, r.target,
                               r.reason, r.result, r.id)
                    for r in conn.execute(query.order_by(c.id.desc()).limit(limit))]

    # alerts
    def raise_alert(self, alert: Alert) -> int:
        with self.engine.begin() as conn:
            return conn.execute(insert(support_alerts).values(
                device_id=alert.device_id, partner_id=alert.partner_id, kind=alert.kind,
                severity=alert.severity, details=json.dumps(alert.details, sort_keys=True),
                raised_at=alert.raised_at).returning(support_alerts.c.id)).scalar_one()

    def clear_alert(self, alert_id: int, at: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(support_alerts).where(support_alerts.c.id == alert_id)
                         .values(cleared_at=at))

    def update_alert(self, alert_id: int, details: dict) -> None:
        """New facts for an alert still raised; an alert from before the facts were kept
        loses its stored sentence, now said again from them."""
        with self.engine.begin() as conn:
            conn.execute(update(support_alerts).where(support_alerts.c.id == alert_id)
                         .values(details=json.dumps(details, sort_keys=True), summary=None))

    def alerts(self, active=True, device_id=None, kind=None, partner_id=None, limit=500):
        c = support_alerts.c
        query = select(support_alerts)
        if active is True:
            query = query.where(c.cleared_at.is_(None))
        elif active is False:
            query = query.where(c.cleared_at.is_not(None))
        for column, value in ((c.device_id, device_id), (c.kind, kind),
                              (c.partner_id, partner_id)):
            if value:
                query = query.where(column == value)
        with self._read.connect() as conn:
            return [_alert(r) for r in conn.execute(query.order_by(c.id.desc()).limit(limit))]

    def alert(self, alert_id: int) -> Alert | None:
        with self._read.connect() as conn:
            row = conn.execute(select(support_alerts).where(
                support_alerts.c.id == alert_id)).first()
        return _alert(row) if row else None
