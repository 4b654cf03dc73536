"""Health alerts: which conditions of a terminal deserve a call, as pure rules over its live
view. The monitor (service layer) raises and clears them; this module only says what holds now.

Opening hours are Paris local time: a terminal switched off at night is not a fault.
"""

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from fleet_server.domain.support import OFFLINE, UNKNOWN, UNRESPONSIVE

PARIS = ZoneInfo("Europe/Paris")

OFFLINE_LONG, SCANNER_FAULT, REPEATED_REBOOTS = "offline", "scanner_fault", "repeated_reboots"
WEAK_SIGNAL, OUTDATED_FIRMWARE, CLOCK_DRIFT = "weak_signal", "outdated_firmware", "clock_drift"
NEVER_CONNECTED = "never_connected"
KINDS = (OFFLINE_LONG, NEVER_CONNECTED, SCANNER_FAULT, REPEATED_REBOOTS, WEAK_SIGNAL,
         OUTDATED_FIRMWARE, CLOCK_DRIFT)  # in the order the console lists them
SEVERITY = {OFFLINE_LONG: "high", NEVER_CONNECTED: "high", SCANNER_FAULT: "high",
            REPEATED_REBOOTS: "high",
            WEAK_SIGNAL: "low", OUTDATED_FIRMWARE: "low", CLOCK_DRIFT: "medium"}
# Alerts that open an intervention by themselves, and in which category.
AUTO_INTERVENTION = {OFFLINE_LONG: "assistance", NEVER_CONNECTED: "assistance",
                     SCANNER_FAULT: "hardware_fault",
                     REPEATED_REBOOTS: "hardware_fault"}


@dataclass
class AlertRules:
    offline_after_s: int = 15 * 60
    # weekday (0 = Monday) -> (opens, closes), Paris time; a missing day is closed.
    opening_hours: dict = field(default_factory=lambda: {
        d: (time(9, 0), time(19, 0)) for d in range(6)})
    reboots_max: int = 3  # this many reboots or more within reboots_window_s
    reboots_window_s: int = 3600
    weak_rssi_dbm: int = -80  # below this
    drift_max_s: int = 120
    latest_firmware: str | None = None  # None: the newest version seen in the fleet
    auto_intervention: bool = True

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(PARIS)
        hours = self.opening_hours.get(local.weekday())
        return bool(hours) and hours[0] <= local.time() < hours[1]


@dataclass
class Alert:
    """details: the facts of the condition (conditions() below), worded by the front ends.
    Alerts stored before the facts were kept have details None and their sentence in text."""

    device_id: str
    kind: str
    severity: str
    details: dict | None
    raised_at: datetime
    cleared_at: datetime | None = None
    alert_id: int | None = None
    partner_id: str | None = None
    text: str | None = None


def version_key(version: str | None) -> tuple:
    """"0.10.2" > "0.9.9": numbers compare as numbers, anything else as text."""
    out = []
    for part in (version or "").replace("-", ".").split("."):
        out.append((0, int(part), "") if part.isdigit() else (1, 0, part))
    return tuple(out)


def newest(versions) -> str | None:
    found = [v for v in versions if v and v != "unknown"]
    return max(found, key=version_key) if found else None


def conditions(view: dict, connection: str, offline_since: datetime | None,
               rules: AlertRules, latest_fw: str | None, now: datetime,
               claimed_at: datetime | None = None) -> dict[str, dict]:
    """kind -> its facts (minutes, rssi, versions...), for every alert condition that holds
    for this terminal now.

    view: the live fields (heartbeat keys rssi, scn, fw, drift_s, and reboots: times);
    claimed_at: when its partner claimed it, given only if it has never been heard from (a
    terminal left in its box, or one that cannot reach the server: Wi-Fi, certificate...)."""
    found = {}
    if connection == UNKNOWN and claimed_at is not None:
        waiting = now - claimed_at
        if waiting >= timedelta(seconds=rules.offline_after_s) and rules.is_open(now):
            found[NEVER_CONNECTED] = {"minutes": int(waiting.total_seconds() // 60)}
    elif connection in (OFFLINE, UNRESPONSIVE, UNKNOWN) and offline_since is not None:
        silent = now - offline_since
        if silent >= timedelta(seconds=rules.offline_after_s) and rules.is_open(now):
            found[OFFLINE_LONG] = {"connection": connection,
                                   "minutes": int(silent.total_seconds() // 60)}
    if view.get("scn") == "fault":
        found[SCANNER_FAULT] = {}
    window = now - timedelta(seconds=rules.reboots_window_s)
    reboots = [t for t in view.get("reboots", ()) if t >= window]
    if len(reboots) >= rules.reboots_max:
        found[REPEATED_REBOOTS] = {"reboots": len(reboots),
                                   "minutes": rules.reboots_window_s // 60}
    rssi = view.get("rssi")
    if rssi is not None and rssi < rules.weak_rssi_dbm:
        found[WEAK_SIGNAL] = {"rssi": rssi}
    fw = view.get("fw")
    if fw and latest_fw and version_key(fw) < version_key(latest_fw):
        found[OUTDATED_FIRMWARE] = {"fw": fw, "latest": latest_fw}
    drift = view.get("drift_s")
    if drift is not None and abs(drift) > rules.drift_max_s:
        found[CLOCK_DRIFT] = {"drift_s": drift}
    return found
