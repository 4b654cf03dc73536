"""Interventions: the ticket of one terminal's problem, from the call (or the alert) to the fix.
Category, status, notes, and the commands run for it. Every change is audited."""

from collections.abc import Callable
from datetime import datetime

from fleet_server.domain.support import (
    CATEGORIES,
    REASON_MIN,
    TEXT_MAX,
    AuditEntry,
    Intervention,
    Note,
    SupportError,
    check_move,
    clean_text,
)
from fleet_server.domain.support_alerts import AUTO_INTERVENTION, Alert
from fleet_server.service_layer.device_status import StatusTracker
from fleet_server.service_layer.support_ports import SupportStore

SYSTEM = "surveillance"  # the author of what the alert monitor does by itself


class InterventionDesk:
    def __init__(self, store: SupportStore, status: StatusTracker,
                 clock: Callable[[], datetime]):
        self.store, self.status, self.clock = store, status, clock

    def open(self, actor: str, role: str, device_id: str, category: str, title: str,
             note: str | None = None, alert_id: int | None = None) -> Intervention:
        if category not in CATEGORIES:
            raise SupportError(f"unknown category {category!r} (one of {', '.join(CATEGORIES)})")
        title = clean_text(title, "title", REASON_MIN, 200)
        terminal = self.store.terminal(device_id)
        if terminal is None:
            raise LookupError(f"unknown terminal {device_id}")
        now = self.clock()
        item = Intervention(None, device_id, terminal.partner_id, category, "open", title,
                            actor, now, now, alert_id=alert_id)
        item.intervention_id = self.store.add_intervention(item)
        if note:
            self.add_note(actor, role, item.intervention_id, note, audit=False)
            item = self.store.intervention(item.intervention_id)
        self.store.audit(AuditEntry(now, actor, role, "intervention:open", device_id,
                                    str(item.intervention_id), title, CATEGORIES[category]))
        self.status.record(device_id, "intervention",
                           f"intervention n° {item.intervention_id} ouverte par {actor} : {title}")
        return item

    def from_alert(self, alert: Alert, actor: str = SYSTEM, role: str = "system"
                   ) -> Intervention:
        """The intervention an alert calls for; the open one of that terminal if any."""
        for item in self.store.interventions(device_id=alert.device_id, limit=50):
            if item.status != "resolved":
                return item
        category = AUTO_INTERVENTION.get(alert.kind, "assistance")
        return self.open(actor, role, alert.device_id, category,
                         f"Alerte : {alert.label}", note=alert.summary, alert_id=alert.alert_id)

    def move(self, actor: str, role: str, intervention_id: int, status: str | None = None,
             category: str | None = None) -> Intervention:
        item = self._get(intervention_id)
        now, changes = self.clock(), []
        if category is not None and category != item.category:
            if category not in CATEGORIES:
                raise SupportError(f"unknown category {category!r}")
            changes.append(f"catégorie : {CATEGORIES[category]}")
            item.category = category
        if status is not None and status != item.status:
            check_move(item.status, status)
            changes.append(f"statut : {status}")
            item.status = status
            item.resolved_at = now if status == "resolved" else None
        if not changes:
            return item
        item.updated_at = now
        self.store.save_intervention(item)
        summary = ", ".join(changes)
        self.store.audit(AuditEntry(now, actor, role, "intervention:update", item.device_id,
                                    str(intervention_id), None, summary))
        self.status.record(item.device_id, "intervention",
                           f"intervention n° {intervention_id} : {summary}")
        return item

    def add_note(self, actor: str, role: str, intervention_id: int, text: str,
                 audit: bool = True) -> Intervention:
        text = clean_text(text, "note", 1, TEXT_MAX)
        item = self._get(intervention_id)
        now = self.clock()
        self.store.add_note(intervention_id, Note(now, actor, text))
        item.updated_at = now
        self.store.save_intervention(item)
        if audit:
            self.store.audit(AuditEntry(now, actor, role, "intervention:note", item.device_id,
                                        str(intervention_id), None, text[:200]))
        return self.store.intervention(intervention_id)

    def _get(self, intervention_id: int) -> Intervention:
        item = self.store.intervention(intervention_id)
        if item is None:
            raise LookupError(f"unknown intervention {intervention_id}")
        return item
