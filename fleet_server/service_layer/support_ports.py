"""What the support desk needs from storage, as one port: SQL in adapters/sql_support.py, an
in-memory fake in the unit tests. Everything returns plain domain records (snapshots)."""

import abc
from dataclasses import dataclass
from datetime import datetime

from fleet_server.domain.support import AuditEntry, Command, Intervention, Note, TimelineEvent
from fleet_server.domain.support_alerts import Alert


@dataclass(frozen=True)
class TerminalInfo:
    """A terminal and whom to call about it, from the registry (no financial data)."""

    device_id: str
    state: str
    model: str
    key_version: int
    firmware_version: str | None
    last_seen_at: datetime | None
    partner_id: str | None
    partner_name: str | None = None
    partner_phone: str | None = None
    partner_email: str | None = None
    partner_address: str | None = None
    claimed_at: datetime | None = None  # when its partner claimed it (None: never claimed)


@dataclass(frozen=True)
class Seen:
    """A batched write of what a terminal last said (at most one per WRITE_EVERY_S)."""

    device_id: str
    at: datetime
    firmware: str | None
    rssi: int | None
    heap: int | None
    sample: bool  # a heartbeat: also a point of the signal and memory chart


class SupportStore(abc.ABC):
    # registry (read only)
    @abc.abstractmethod
    def terminals(self) -> list[TerminalInfo]: ...

    @abc.abstractmethod
    def terminal(self, device_id: str) -> TerminalInfo | None: ...

    @abc.abstractmethod
    def device_ids(self) -> list[str]:
        """Every registered device id (the live view's gate reads them in one query)."""

    @abc.abstractmethod
    def is_registered(self, device_id: str) -> bool:
        """Whether one device id is in the registry (the gate's lookup between two reads)."""

    # status, samples and timeline
    @abc.abstractmethod
    def write_batch(self, seen: list[Seen], events: list[TimelineEvent]) -> None:
        """One transaction: last seen and firmware per terminal, chart samples, events."""

    @abc.abstractmethod
    def timeline(self, device_id: str, limit: int = 100,
                 before_id: int | None = None) -> list[TimelineEvent]:
        """Newest first."""

    @abc.abstractmethod
    def samples(self, device_id: str, since: datetime) -> list[tuple[datetime, int | None,
                                                                      int | None]]:
        """(at, rssi, heap), oldest first."""

    @abc.abstractmethod
    def prune(self, events_per_device: int, samples_before: datetime) -> int:
        """Keep the timeline and the chart bounded; returns the rows deleted."""

    # commands
    @abc.abstractmethod
    def add_command(self, command: Command) -> None: ...

    @abc.abstractmethod
    def save_command(self, command: Command) -> None: ...

    @abc.abstractmethod
    def command(self, command_id: str) -> Command | None: ...

    @abc.abstractmethod
    def commands(self, device_id: str | None = None, states: tuple = (),
                 intervention_id: int | None = None, limit: int = 100) -> list[Command]:
        """Newest first (queued ones for delivery: the caller sorts)."""

    # interventions
    @abc.abstractmethod
    def add_intervention(self, intervention: Intervention) -> int: ...

    @abc.abstractmethod
    def save_intervention(self, intervention: Intervention) -> None: ...

    @abc.abstractmethod
    def add_note(self, intervention_id: int, note: Note) -> None: ...

    @abc.abstractmethod
    def intervention(self, intervention_id: int) -> Intervention | None:
        """With its notes."""

    @abc.abstractmethod
    def interventions(self, device_id: str | None = None, status: str | None = None,
                      category: str | None = None, partner_id: str | None = None,
                      limit: int = 100) -> list[Intervention]:
        """Newest first, without notes."""

    # audit
    @abc.abstractmethod
    def audit(self, entry: AuditEntry) -> int: ...

    @abc.abstractmethod
    def audit_result(self, target: str, result: str) -> None:
        """Record the outcome on the audit entries of a command."""

    @abc.abstractmethod
    def audit_log(self, device_id: str | None = None, actor: str | None = None,
                  limit: int = 100) -> list[AuditEntry]: ...

    # alerts
    @abc.abstractmethod
    def raise_alert(self, alert: Alert) -> int: ...

    @abc.abstractmethod
    def clear_alert(self, alert_id: int, at: datetime) -> None: ...

    @abc.abstractmethod
    def update_alert(self, alert_id: int, details: dict) -> None: ...

    @abc.abstractmethod
    def alerts(self, active: bool | None = True, device_id: str | None = None,
               kind: str | None = None, partner_id: str | None = None,
               limit: int | None = 500) -> list[Alert]:
        """Newest first; limit None: all of them."""

    @abc.abstractmethod
    def alert(self, alert_id: int) -> Alert | None: ...
