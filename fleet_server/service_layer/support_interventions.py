"""Interventions: the ticket of one terminal's problem, from the call (or the alert) to the fix.
Category, status, notes, and the commands run for it. Every change is audited."""

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from fleet_server.domain.roles import PARTNER_ADMIN
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
PARTNER = PARTNER_ADMIN  # the role a partner's help request is made under
log = logging.getLogger("fleet.support")

# Told of a change the partner follows: (intervention after the change, who made it, what:
# "status" or "note", the note's text). Wired to e-mails (support_notices.py); None: no one.
Notify = Callable[[Intervention, str, str, str | None], None]


class TicketWords(Protocol):
    """What the desk writes into a ticket by itself, read there by people as they read the
    notes: worded by the front ends' module (entrypoints/support_texts.TicketTexts)."""

    def joined_request(self, category: str, title: str) -> str:
        """The note a partner's request becomes on the terminal's open intervention."""

    def alert_title(self, alert: Alert) -> str:
        """The title of an intervention opened for an alert."""

    def alert_note(self, alert: Alert) -> str:
        """Its first note: what the alert found."""


class InterventionDesk:
    def __init__(self, store: SupportStore, status: StatusTracker,
                 clock: Callable[[], datetime], words: TicketWords,
                 notify: Notify | None = None):
        self.store, self.status, self.clock = store, status, clock
        self.words, self.notify = words, notify

    def request_help(self, actor: str, device_id: str, category: str, title: str
                     ) -> tuple[Intervention, bool]:
        """A partner asks for help about a terminal. A terminal with an intervention still
        open gets the request as a note on it (one problem, one ticket, one person following
        it at the desk); else a new one opens. Returns (intervention, joined)."""
        if category not in CATEGORIES:
            raise SupportError(f"unknown category {category!r} (one of {', '.join(CATEGORIES)})")
        title = clean_text(title, "title", REASON_MIN, 200)
        for item in self.store.interventions(device_id=device_id, limit=50):
            if item.status != "resolved":
                note = self.words.joined_request(category, title)
                return self.add_note(actor, PARTNER, item.intervention_id, note), True
        return self.open(actor, PARTNER, device_id, category, title), False

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
                                    str(item.intervention_id), title, category))
        self.status.record(device_id, "intervention", "intervention_opened",
                           number=item.intervention_id, actor=actor, title=title)
        return item

    def from_alert(self, alert: Alert, actor: str = SYSTEM, role: str = "system"
                   ) -> Intervention:
        """The intervention an alert calls for; the open one of that terminal if any."""
        for item in self.store.interventions(device_id=alert.device_id, limit=50):
            if item.status != "resolved":
                return item
        category = AUTO_INTERVENTION.get(alert.kind, "assistance")
        return self.open(actor, role, alert.device_id, category, self.words.alert_title(alert),
                         note=self.words.alert_note(alert), alert_id=alert.alert_id)

    def move(self, actor: str, role: str, intervention_id: int, status: str | None = None,
             category: str | None = None) -> Intervention:
        item = self._get(intervention_id)
        now, changes = self.clock(), {}
        if category is not None and category != item.category:
            if category not in CATEGORIES:
                raise SupportError(f"unknown category {category!r}")
            changes["category"] = item.category = category
        if status is not None and status != item.status:
            check_move(item.status, status)
            changes["status"] = item.status = status
            item.resolved_at = now if status == "resolved" else None
        if not changes:
            return item
        item.updated_at = now
        self.store.save_intervention(item)
        # The audit's result: "category=assistance,status=resolved", worded by the front ends.
        self.store.audit(AuditEntry(now, actor, role, "intervention:update", item.device_id,
                                    str(intervention_id), None,
                                    ",".join(f"{k}={v}" for k, v in changes.items())))
        self.status.record(item.device_id, "intervention", "intervention_changed",
                           number=intervention_id, **changes)
        if "status" in changes:
            self._notify(item, actor, "status", None)
        return item

    def add_note(self, actor: str, role: str, intervention_id: int, text: str,
                 audit: bool = True) -> Intervention:
        text = clean_text(text, "note", 1, TEXT_MAX)
        item = self._get(intervention_id)
        now = self.clock()
        self.store.add_note(intervention_id, Note(now, actor, text))
        item.updated_at = now
        self.store.save_intervention(item)
        item = self.store.intervention(intervention_id)
        if audit:
            self.store.audit(AuditEntry(now, actor, role, "intervention:note", item.device_id,
                                        str(intervention_id), None, text[:200]))
            self._notify(item, actor, "note", text)
        return item

    def _notify(self, item: Intervention, actor: str, what: str, text: str | None) -> None:
        if self.notify is None:
            return
        try:
            self.notify(item, actor, what, text)
        except Exception:  # a mail server down must not undo or refuse the desk's change
            log.exception("notice for intervention %s not sent", item.intervention_id)

    def _get(self, intervention_id: int) -> Intervention:
        item = self.store.intervention(intervention_id)
        if item is None:
            raise LookupError(f"unknown intervention {intervention_id}")
        return item
