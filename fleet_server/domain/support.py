"""The support desk's vocabulary: connection states, remote commands, interventions, alerts and
timeline events. Plain data and pure rules; no I/O.

Connection state of a terminal (the desk's first question on the phone):
- online: its last status said "online" and it sent something within 2.5 heartbeat intervals;
- unresponsive: connected as far as the broker knows (no last will), but silent for longer;
- offline: its last status is "offline" (its last will, or a clean goodbye);
- unknown: nothing heard since the server started and nothing in the database.
"""

import string
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

ONLINE, OFFLINE, UNRESPONSIVE, UNKNOWN = "online", "offline", "unresponsive", "unknown"
CONNECTION_STATES = (ONLINE, UNRESPONSIVE, OFFLINE, UNKNOWN)
SILENCE_FACTOR = 2.5  # heartbeat intervals of silence before "unresponsive"


def connection_state(status: str | None, last_heard: datetime | None, hb_interval_s: int,
                     now: datetime) -> str:
    """status: the last "st" of a status message (None: none received)."""
    if status == OFFLINE:
        return OFFLINE
    if last_heard is None:
        return UNKNOWN
    silent = (now - last_heard).total_seconds()
    if silent > SILENCE_FACTOR * hb_interval_s:
        return UNRESPONSIVE if status == ONLINE else OFFLINE
    return ONLINE


# ---- remote commands -----------------------------------------------------------------------

DESK_COMMANDS = ("ping", "diagnostics", "restart", "get_logs", "set_config")
QUEUED, SENT, SUCCEEDED, FAILED, TIMED_OUT, EXPIRED = (
    "queued", "sent", "succeeded", "failed", "timed_out", "expired")
COMMAND_STATES = (QUEUED, SENT, SUCCEEDED, FAILED, TIMED_OUT, EXPIRED)
FINISHED = (SUCCEEDED, FAILED, TIMED_OUT, EXPIRED)
CONFIG_BOUNDS = {"hb": (10, 3600), "beep": (0, 3), "screen_s": (5, 600)}  # as the firmware
LOG_LINES_MAX = 200
REASON_MIN, REASON_MAX = 3, 500
TEXT_MAX = 2000
_ID_ALPHABET = string.ascii_lowercase + string.digits


class SupportError(ValueError):
    """A desk request that cannot be carried out as asked (bad arguments, wrong state)."""


def clean_text(value: str | None, what: str, low: int, high: int) -> str:
    """Free text from a person: trimmed, bounded, no control characters except newlines."""
    text = (value or "").strip()
    if not low <= len(text) <= high:
        raise SupportError(f"{what}: {low} to {high} characters")
    if any((ord(ch) < 0x20 and ch not in "\n\t") or ord(ch) == 0x7F for ch in text):
        raise SupportError(f"{what}: control characters are not allowed")
    return text


def check_command(name: str, args: dict | None) -> dict:
    """The arguments of a desk command, validated as the firmware will; SupportError if not."""
    args = dict(args or {})
    if name not in DESK_COMMANDS:
        raise SupportError(f"unknown command {name!r} (one of {', '.join(DESK_COMMANDS)})")
    if name == "get_logs":
        lines = args.pop("lines", 50)
        if args or type(lines) is not int or not 1 <= lines <= LOG_LINES_MAX:
            raise SupportError(f"get_logs takes lines: 1 to {LOG_LINES_MAX}")
        return {"lines": lines}
    if name == "set_config":
        if not args:
            raise SupportError("set_config needs at least one setting")
        for key, value in args.items():
            bounds = CONFIG_BOUNDS.get(key)
            if bounds is None:
                raise SupportError(f"unknown setting {key!r} (one of {', '.join(CONFIG_BOUNDS)})")
            if type(value) is not int or not bounds[0] <= value <= bounds[1]:
                raise SupportError(f"{key} is an integer from {bounds[0]} to {bounds[1]}")
        return args
    if args:
        raise SupportError(f"{name} takes no arguments")
    return {}


def new_command_id(random_bytes) -> str:
    """'s' + 15 characters: fits the protocol's command id (1-32 of [0-9A-Za-z._-])."""
    raw = random_bytes(15)
    return "s" + "".join(_ID_ALPHABET[b % len(_ID_ALPHABET)] for b in raw)


@dataclass
class Command:
    command_id: str
    device_id: str
    name: str
    args: dict
    reason: str
    requested_by: str
    requested_at: datetime
    expires_at: datetime  # queued past this: expired, never sent
    timeout_s: int
    state: str = QUEUED
    sent_at: datetime | None = None
    deadline_at: datetime | None = None  # sent and unanswered past this: timed out
    answered_at: datetime | None = None
    ok: bool | None = None
    code: str | None = None
    result: dict | None = None
    intervention_id: int | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


# ---- interventions -------------------------------------------------------------------------

CATEGORIES = ("hardware_fault", "assistance", "improvement_request")
STATUSES = ("open", "in_progress", "resolved")
_MOVES = {"open": {"in_progress", "resolved"}, "in_progress": {"open", "resolved"},
          "resolved": {"open"}}


def check_move(current: str, new: str) -> None:
    if new not in STATUSES:
        raise SupportError(f"unknown status {new!r} (one of {', '.join(STATUSES)})")
    if new != current and new not in _MOVES[current]:
        raise SupportError(f"an intervention {current} cannot become {new}")


@dataclass
class Note:
    at: datetime
    author: str
    text: str


@dataclass
class Intervention:
    intervention_id: int | None
    device_id: str
    partner_id: str | None
    category: str
    status: str
    title: str
    opened_by: str
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    alert_id: int | None = None
    notes: list[Note] = field(default_factory=list)


# ---- audit and timeline ---------------------------------------------------------------------

@dataclass
class AuditEntry:
    at: datetime
    actor: str
    role: str
    action: str  # command:<name>, intervention:open, intervention:update, intervention:note
    device_id: str | None
    target: str | None  # command id or intervention id
    reason: str | None
    # A code the front ends word (entrypoints/support_texts.audit_result): a command's state
    # ("failed:bad_mac"), an intervention's category or its changes ("status=resolved"); a
    # note's text. Rows from before the codes hold a French sentence, shown as stored.
    result: str | None
    audit_id: int | None = None


EVENT_KINDS = ("status", "error", "reboot", "command", "update", "sales", "alert",
               "intervention")


@dataclass
class TimelineEvent:
    """What happened to a terminal, as a code and its data; the front ends word it. Events
    stored before the codes have none (code None): their sentence is in `text`, as written."""

    device_id: str
    at: datetime
    kind: str
    code: str | None
    details: dict = field(default_factory=dict)
    event_id: int | None = None
    text: str | None = None


def search_key(text: str | None) -> str:
    """What the desk's search compares: no accents, no case, letters and digits only, so that
    "ecoles" finds "Écoles", "0123456789" finds "01 23 45 67 89" and "auto ecole" finds
    "Auto-école"."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(c for c in decomposed.casefold() if c.isalnum())

