"""An in-memory SupportStore, a settable clock and a recording publisher for the unit tests."""

import copy
from datetime import UTC, datetime, timedelta

from fleet_server.domain.support import AuditEntry, Command, Intervention, Note, TimelineEvent
from fleet_server.domain.support_alerts import Alert
from fleet_server.entrypoints.support_texts import TicketTexts
from fleet_server.service_layer.device_status import StatusTracker
from fleet_server.service_layer.keys import KeyStore
from fleet_server.service_layer.support import SupportDesk
from fleet_server.service_layer.support_commands import CommandDesk
from fleet_server.service_layer.support_interventions import InterventionDesk
from fleet_server.service_layer.support_ports import Seen, SupportStore, TerminalInfo

DEVICE = "CTABCDEFGH1"
OTHER = "CTABCDEFGH2"


class Clock:
    def __init__(self, start: datetime | None = None):
        # A Tuesday at 10:00 in Paris: inside the default opening hours.
        self.now = start or datetime(2026, 11, 24, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeStore(SupportStore):
    def __init__(self, terminals: list[TerminalInfo]):
        self._terminals = {t.device_id: t for t in terminals}
        self.seen: list[Seen] = []
        self.events: list[TimelineEvent] = []
        self._commands: dict[str, Command] = {}
        self._interventions: dict[int, Intervention] = {}
        self._audit: list[AuditEntry] = []
        self._alerts: dict[int, Alert] = {}
        self.batches = 0
        self.fail_writes = False

    def terminals(self):
        return list(self._terminals.values())

    def terminal(self, device_id):
        return self._terminals.get(device_id)

    def device_ids(self):
        return list(self._terminals)

    def is_registered(self, device_id):
        return device_id in self._terminals

    def write_batch(self, seen, events):
        if self.fail_writes:
            raise OSError("database away")
        self.batches += 1
        self.seen.extend(seen)
        for event in events:
            event.event_id = len(self.events) + 1
            self.events.append(event)

    def timeline(self, device_id, limit=100, before_id=None):
        out = [e for e in reversed(self.events) if e.device_id == device_id
               and (before_id is None or e.event_id < before_id)]
        return out[:limit]

    def samples(self, device_id, since):
        return [(s.at, s.rssi, s.heap) for s in self.seen
                if s.device_id == device_id and s.sample and s.at >= since]

    def prune(self, events_per_device, samples_before):
        before = len(self.events) + len(self.seen)
        self.seen = [s for s in self.seen if s.at >= samples_before]
        kept = []
        for event in reversed(self.events):
            if sum(1 for k in kept if k.device_id == event.device_id) < events_per_device:
                kept.append(event)
        self.events = list(reversed(kept))
        return before - len(self.events) - len(self.seen)

    def add_command(self, command):
        self._commands[command.command_id] = copy.deepcopy(command)

    def save_command(self, command):
        self._commands[command.command_id] = copy.deepcopy(command)

    def command(self, command_id):
        found = self._commands.get(command_id)
        return copy.deepcopy(found) if found else None

    def commands(self, device_id=None, states=(), intervention_id=None, limit=100):
        out = [copy.deepcopy(c) for c in self._commands.values()
               if (not device_id or c.device_id == device_id)
               and (not states or c.state in states)
               and (intervention_id is None or c.intervention_id == intervention_id)]
        return sorted(out, key=lambda c: c.requested_at, reverse=True)[:limit]

    def add_intervention(self, item):
        new_id = len(self._interventions) + 1
        stored = copy.deepcopy(item)
        stored.intervention_id = new_id
        self._interventions[new_id] = stored
        return new_id

    def save_intervention(self, item):
        notes = self._interventions[item.intervention_id].notes
        stored = copy.deepcopy(item)
        stored.notes = notes
        self._interventions[item.intervention_id] = stored

    def add_note(self, intervention_id, note: Note):
        self._interventions[intervention_id].notes.append(note)

    def intervention(self, intervention_id):
        found = self._interventions.get(intervention_id)
        return copy.deepcopy(found) if found else None

    def interventions(self, device_id=None, status=None, category=None, partner_id=None,
                      limit=100):
        out = [copy.deepcopy(i) for i in self._interventions.values()
               if (not device_id or i.device_id == device_id)
               and (not status or i.status == status)
               and (not category or i.category == category)
               and (not partner_id or i.partner_id == partner_id)]
        return sorted(out, key=lambda i: i.intervention_id, reverse=True)[:limit]

    def audit(self, entry):
        entry = copy.deepcopy(entry)
        entry.audit_id = len(self._audit) + 1
        self._audit.append(entry)
        return entry.audit_id

    def audit_result(self, target, result):
        for entry in self._audit:
            if entry.target == target:
                entry.result = result

    def audit_log(self, device_id=None, actor=None, limit=100):
        return [copy.deepcopy(e) for e in reversed(self._audit)
                if (not device_id or e.device_id == device_id)
                and (not actor or e.actor == actor)][:limit]

    def raise_alert(self, alert):
        alert = copy.deepcopy(alert)
        alert.alert_id = len(self._alerts) + 1
        self._alerts[alert.alert_id] = alert
        return alert.alert_id

    def clear_alert(self, alert_id, at):
        self._alerts[alert_id].cleared_at = at

    def update_alert(self, alert_id, details):
        self._alerts[alert_id].details, self._alerts[alert_id].text = details, None

    def alerts(self, active=True, device_id=None, kind=None, partner_id=None, limit=500):
        out = [copy.deepcopy(a) for a in self._alerts.values()
               if (active is None or (a.cleared_at is None) == active)
               and (not device_id or a.device_id == device_id)
               and (not kind or a.kind == kind)
               and (not partner_id or a.partner_id == partner_id)]
        return sorted(out, key=lambda a: a.alert_id, reverse=True)[:limit]

    def alert(self, alert_id):
        found = self._alerts.get(alert_id)
        return copy.deepcopy(found) if found else None


def terminal(device_id=DEVICE, state="active", partner="P1", fw="0.1.0"):
    return TerminalInfo(device_id, state, "esp32-gm65", 1, fw, None, partner,
                        "Librairie des Lilas", "01 23 45 67 89", "lilas@example.org",
                        "3 rue des Lilas, Lyon")


class Published(list):
    def __call__(self, messages):
        self.extend(messages)
        return True


def make_desk(terminals=None):
    clock = Clock()
    store = FakeStore(terminals or [terminal(), terminal(OTHER, partner="P2")])
    status = StatusTracker(store, clock)
    keys = KeyStore("unit-test-master-secret-0123456789abcdef", "0000A001")
    published = Published()
    commands = CommandDesk(store, status, keys, published, clock)
    interventions = InterventionDesk(store, status, clock, TicketTexts())
    desk = SupportDesk(store, status, commands, interventions, clock)
    return desk, store, clock, published, keys
