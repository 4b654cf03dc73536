"""The support desk as one service: the fleet at a glance, one terminal in detail, health alerts,
and the periodic work (batched status writes, timeouts, alerts, pruning) the ticker drives.

Commands and interventions live in support_commands.py and support_interventions.py; this
module puts them together for the API, the CLI and the web pages. A support agent sees
terminals and whom to call (partner name, phone, e-mail, address), never money.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from fleet_server.domain.support import OFFLINE, UNKNOWN, UNRESPONSIVE, search_key
from fleet_server.domain.support_alerts import (
    AUTO_INTERVENTION,
    Alert,
    AlertRules,
    conditions,
    newest,
)
from fleet_server.domain.support_alerts import SEVERITY as ALERT_SEVERITY
from fleet_server.service_layer.device_status import StatusTracker
from fleet_server.service_layer.support_commands import CommandDesk
from fleet_server.service_layer.support_interventions import InterventionDesk
from fleet_server.service_layer.support_ports import SupportStore, TerminalInfo

log = logging.getLogger("fleet.support")

EVENTS_PER_TERMINAL = 500  # the timeline keeps this many newest events per terminal
SAMPLES_DAYS = 14  # and the chart this many days


@dataclass
class Ticks:
    """How often the ticker does each job, in seconds."""

    flush: float = 1.0
    sweep: float = 2.0
    alerts: float = 10.0
    prune: float = 3600.0
    last: dict = field(default_factory=dict)

    def due(self, job: str, now: float) -> bool:
        if now - self.last.get(job, -1e18) >= getattr(self, job):
            self.last[job] = now
            return True
        return False


class SupportDesk:
    def __init__(self, store: SupportStore, status: StatusTracker, commands: CommandDesk,
                 interventions: InterventionDesk, clock: Callable[[], datetime],
                 rules: AlertRules | None = None):
        self.store, self.status, self.commands = store, status, commands
        self.interventions, self.clock = interventions, clock
        self.rules = rules or AlertRules()
        self.ticks = Ticks()

    # ---- views ---------------------------------------------------------------------------------
    def row(self, terminal: TerminalInfo, alerts: list[Alert], now: datetime) -> dict:
        view = self.status.view(terminal.device_id)
        connection = self.status.connection(terminal.device_id, now)
        return {
            "device_id": terminal.device_id, "state": terminal.state, "model": terminal.model,
            "connection": connection,
            "last_seen_at": view.get("seen_at") or terminal.last_seen_at,
            "firmware": view.get("fw") or terminal.firmware_version,
            "rssi": view.get("rssi"), "heap": view.get("heap"), "scanner": view.get("scn"),
            "uptime_s": view.get("up"), "boots": view.get("boots"), "reset": view.get("rst"),
            "last_error": view.get("err"), "drift_s": view.get("drift_s"),
            "sales_since_boot": view.get("sales"), "heartbeat_s": view.get("hb_s"),
            "partner": {"partner_id": terminal.partner_id, "name": terminal.partner_name,
                        "phone": terminal.partner_phone, "email": terminal.partner_email,
                        "address": terminal.partner_address},
            "alerts": [a.kind for a in alerts],
        }

    def fleet(self, q: str | None = None, partner_id: str | None = None,
              connection: str | None = None, firmware: str | None = None,
              alert: str | None = None, limit: int = 100, offset: int = 0) -> list[dict]:
        """Terminals matching every filter given; q searches id, partner name, phone, e-mail."""
        now = self.clock()
        by_device: dict[str, list[Alert]] = {}
        for item in self.store.alerts(active=True, limit=None):  # all: one per terminal and kind
            by_device.setdefault(item.device_id, []).append(item)
        needle = search_key(q)
        rows = []
        for terminal in self.store.terminals():
            if partner_id and terminal.partner_id != partner_id:
                continue
            if needle and not any(needle in search_key(text) for text in (
                    terminal.device_id, terminal.partner_name, terminal.partner_id,
                    terminal.partner_phone, terminal.partner_email)):
                continue
            row = self.row(terminal, by_device.get(terminal.device_id, []), now)
            if connection and row["connection"] != connection:
                continue
            if firmware and row["firmware"] != firmware:
                continue
            if alert and (alert not in row["alerts"] if alert != "any" else not row["alerts"]):
                continue
            rows.append(row)
        return rows[offset:offset + limit + 1]

    def terminal(self, device_id: str) -> dict:
        terminal = self.store.terminal(device_id)
        if terminal is None:
            raise LookupError(f"unknown terminal {device_id}")
        alerts = self.store.alerts(active=True, device_id=device_id)
        row = self.row(terminal, alerts, self.clock())
        row["active_alerts"] = [self.alert_view(a, terminal) for a in alerts]
        return row

    def alert_view(self, alert: Alert, terminal: TerminalInfo | None = None) -> dict:
        """An alert with whom to call; its words (label, detail, the line to read out on the
        phone) are the front ends' (entrypoints/support_texts.alert_words)."""
        terminal = terminal or self.store.terminal(alert.device_id)
        return {"alert_id": alert.alert_id, "device_id": alert.device_id, "kind": alert.kind,
                "severity": alert.severity, "details": alert.details, "text": alert.text,
                "raised_at": alert.raised_at, "cleared_at": alert.cleared_at,
                "partner_id": terminal.partner_id if terminal else None,
                "partner_name": terminal.partner_name if terminal else None,
                "partner_phone": terminal.partner_phone if terminal else None}

    def alert_list(self, active: bool | None = True, kind: str | None = None,
                   partner_id: str | None = None, device_id: str | None = None,
                   limit: int = 200) -> list[dict]:
        terminals = {t.device_id: t for t in self.store.terminals()}
        return [self.alert_view(a, terminals.get(a.device_id)) for a in self.store.alerts(
            active=active, kind=kind, partner_id=partner_id, device_id=device_id, limit=limit)]

    # ---- alerts --------------------------------------------------------------------------------
    def check_alerts(self) -> tuple[int, int]:
        """Raise what holds now and was not raised, clear what no longer holds."""
        now = self.clock()
        terminals = [t for t in self.store.terminals() if t.state == "active"]
        latest = self.rules.latest_firmware or newest(
            [self.status.view(t.device_id).get("fw") or t.firmware_version for t in terminals])
        # Every active alert, not a page of them: one left out would be raised again each tick.
        open_alerts = {(a.device_id, a.kind): a
                       for a in self.store.alerts(active=True, limit=None)}
        raised = cleared = 0
        for terminal in terminals:
            view = self.status.view(terminal.device_id)
            connection = self.status.connection(terminal.device_id, now)
            since = None
            if connection == OFFLINE:
                # The database's last seen goes back before a server restart (the retained
                # "offline" status then arrives again, dated now).
                known = [t for t in (view.get("offline_since"), terminal.last_seen_at) if t]
                since = min(known) if known else None
            elif connection == UNRESPONSIVE:
                since = view.get("seen_at")
            elif connection == UNKNOWN:
                since = terminal.last_seen_at
            # Claimed but never heard from (no live view, no last seen in the database).
            never = connection == UNKNOWN and since is None and not view.get("seen_at")
            found = conditions(view, connection, since, self.rules, latest, now,
                               claimed_at=terminal.claimed_at if never else None)
            for kind, details in found.items():
                existing = open_alerts.pop((terminal.device_id, kind), None)
                if existing is not None:
                    if existing.details != details:
                        self.store.update_alert(existing.alert_id, details)
                    continue
                self._raise(terminal, kind, details, now)
                raised += 1
        for alert in open_alerts.values():  # no longer holds (or the terminal left service)
            self.store.clear_alert(alert.alert_id, now)
            self.status.record(alert.device_id, "alert", "alert_cleared", alert=alert.kind)
            cleared += 1
        return raised, cleared

    def _raise(self, terminal: TerminalInfo, kind: str, details: dict, now: datetime) -> None:
        alert = Alert(terminal.device_id, kind, ALERT_SEVERITY[kind], details, now,
                      partner_id=terminal.partner_id)
        alert.alert_id = self.store.raise_alert(alert)
        self.status.record(terminal.device_id, "alert", "alert_raised", alert=kind,
                           facts=details)
        if self.rules.auto_intervention and kind in AUTO_INTERVENTION:
            try:
                self.interventions.from_alert(alert)
            except Exception:  # the alert stands even if the ticket could not be opened
                log.exception("intervention for alert %s not opened", alert.alert_id)

    # ---- periodic work -------------------------------------------------------------------------
    def tick(self, monotonic_now: float, runs_jobs: bool = True) -> None:
        """One turn of the ticker: each job when it is due; one failing job stops no other.
        Every process writes what it queued; timeouts, alerts and pruning are done by the one
        that `runs_jobs` (several would raise each alert and time each command out twice)."""
        for job, work in (("flush", self.status.flush), ("sweep", self._sweep),
                          ("alerts", self.check_alerts), ("prune", self._prune)):
            if job != "flush" and not runs_jobs:
                continue
            if self.ticks.due(job, monotonic_now):
                try:
                    work()
                except Exception:
                    log.exception("support %s failed", job)

    def _sweep(self) -> None:
        self.status.check_silence()
        self.commands.sweep()
        self.status.flush()

    def _prune(self) -> None:
        self.store.prune(EVENTS_PER_TERMINAL, self.clock() - timedelta(days=SAMPLES_DAYS))
