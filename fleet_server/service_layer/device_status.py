"""Heartbeats and status messages: when a terminal was last seen, what it runs, how it is.

Heartbeats arrive from every terminal every minute or so, so their path is cheap: parse, update
the in-memory view under a lock, and at most once per WRITE_EVERY_S per terminal queue a row
for the next batch. flush() (called every second by the support ticker) writes everything
queued in one transaction. Status messages (online, and the last will "offline") and timeline
events are queued at once; the view is always current, the database at most a second behind.
"""

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from fleet_server.domain.support import (
    OFFLINE,
    ONLINE,
    UNKNOWN,
    TimelineEvent,
    connection_state,
)
from fleet_server.service_layer.support_ports import Seen, SupportStore
from protocol import messages, topics
from protocol.errors import ProtocolError

log = logging.getLogger("fleet.status")

WRITE_EVERY_S = 30
DEFAULT_HB_S = 60
SALES_EVENT_EVERY_S = 600
MAX_PENDING_EVENTS = 20_000
MAX_PENDING_ROWS = 200_000
MAX_REBOOTS_KEPT = 20
_HEARTBEAT_KEYS = ("rssi", "heap", "fw", "boots", "rst", "scn", "err", "sales", "up", "jn")


class StatusTracker:
    def __init__(self, store: SupportStore | None, clock: Callable[[], datetime],
                 hb_default_s: int = DEFAULT_HB_S, writes: Callable[[], bool] = lambda: True):
        self.store, self.clock, self.hb_default_s = store, clock, hb_default_s
        # With several server processes each sees every heartbeat and status and keeps the
        # whole live view; only the one that `writes` stores rows and timeline events from them.
        self.writes = writes
        self.live: dict[str, dict] = {}  # device id -> last heartbeat/status fields
        self._written: dict[str, float] = {}
        self._pending: list[Seen] = []  # the next batch
        self._events: list[TimelineEvent] = []
        self.dropped_events = 0
        self.heartbeats = 0
        self._lock = threading.Lock()

    # ---- the message path ----------------------------------------------------------------------
    def handle(self, topic: str, payload: bytes) -> dict | None:
        """Record a heartbeat or status; returns the valid message, None for a refused one."""
        try:
            device_id, mtype = topics.parse(topic)
            message = messages.parse(payload, mtype)
            if message["dev"] != device_id:  # topics.check_sender, without parsing again
                raise ProtocolError("bad_topic", "topic does not match the message")
        except ProtocolError as err:
            log.warning("dropped %s: %s", topic[:80], err)
            return None
        now, writes = self.clock(), self.writes()
        with self._lock:
            marks = len(self._pending), len(self._events)
            view = self.live.setdefault(device_id, {"hb_s": self.hb_default_s})
            if mtype == "heartbeat":
                self.heartbeats += 1
                self._heartbeat(device_id, view, message, now)
            else:
                self._status(device_id, view, message, now)
            self._report_connection(device_id, view, now)
            if not writes:  # another process stores these
                del self._pending[marks[0]:], self._events[marks[1]:]
        return message

    def _heartbeat(self, device_id: str, view: dict, hb: dict, now: datetime) -> None:
        before = {key: view.get(key) for key in _HEARTBEAT_KEYS}
        for key in _HEARTBEAT_KEYS:
            view[key] = hb.get(key)
        view["drift_s"] = hb["drift"] if "drift" in hb else int(hb["ts"] - now.timestamp())
        view["hb_at"] = view["seen_at"] = now
        if view.get("st") != ONLINE:  # a heartbeat travels only on a live connection
            view["st"] = ONLINE
            view.pop("offline_since", None)
        if before["boots"] is not None and (
                hb["boots"] > before["boots"] or hb["up"] < (before["up"] or 0)):
            reboots = view.setdefault("reboots", [])
            reboots.append(now - timedelta(seconds=hb["up"]))
            del reboots[:-MAX_REBOOTS_KEPT]
            self._event(device_id, now, "reboot", "rebooted", rst=hb["rst"], boots=hb["boots"])
        if before["fw"] is not None and hb["fw"] != before["fw"]:
            self._event(device_id, now, "update", "firmware_changed", before=before["fw"],
                        after=hb["fw"])
        if hb.get("err") and hb.get("err") != before["err"]:
            self._event(device_id, now, "error", "error_reported", err=hb["err"])
        if hb["scn"] != before["scn"] and (hb["scn"] == "fault" or before["scn"] == "fault"):
            self._event(device_id, now, "error", "scanner_changed", scn=hb["scn"])
        sales = hb.get("sales")
        last_sales_at = view.get("sales_event_at")
        if sales and sales != view.get("sales_reported") and (
                last_sales_at is None
                or (now - last_sales_at).total_seconds() >= SALES_EVENT_EVERY_S):
            view["sales_reported"], view["sales_event_at"] = sales, now
            self._event(device_id, now, "sales", "sales_since_boot", sales=sales)
        stamp = now.timestamp()
        if stamp - self._written.get(device_id, 0.0) >= WRITE_EVERY_S:
            self._written[device_id] = stamp
            self._queue(Seen(device_id, now, hb["fw"], hb.get("rssi"), hb["heap"], True))

    def _status(self, device_id: str, view: dict, status: dict, now: datetime) -> None:
        view["st"], view["status_at"], view["seen_at"] = status["st"], now, now
        if status.get("fw"):
            view["fw"] = status["fw"]
        if status["st"] == OFFLINE:
            view["offline_since"] = now
        else:
            view.pop("offline_since", None)
            self._queue(Seen(device_id, now, status.get("fw"), None, None, False))

    def _report_connection(self, device_id: str, view: dict, now: datetime) -> None:
        state = connection_state(view.get("st"), view.get("seen_at"), view["hb_s"], now)
        if state != view.get("reported"):
            if view.get("reported") is not None or state != ONLINE or "status_at" in view:
                self._event(device_id, now, "status", "connection", state=state)
            view["reported"] = state

    def _queue(self, seen: Seen) -> None:
        if len(self._pending) >= MAX_PENDING_ROWS:  # the database is away: keep the newest
            self._pending.pop(0)
        self._pending.append(seen)

    def _event(self, device_id: str, at: datetime, kind: str, code: str, **details) -> None:
        if len(self._events) >= MAX_PENDING_EVENTS:  # the database is away: keep the newest
            self._events.pop(0)
            self.dropped_events += 1
        self._events.append(TimelineEvent(device_id, at, kind, code, details))

    # ---- for the desk ------------------------------------------------------------------------
    def record(self, device_id: str, kind: str, code: str, **details) -> None:
        """A timeline event from elsewhere (commands, alerts, interventions): what happened
        as a code and its data, worded by the front ends (entrypoints/support_texts.py)."""
        with self._lock:
            self._event(device_id, self.clock(), kind, code, **details)

    def set_interval(self, device_id: str, hb_s: int) -> None:
        with self._lock:
            self.live.setdefault(device_id, {})["hb_s"] = hb_s

    def view(self, device_id: str) -> dict:
        with self._lock:
            return dict(self.live.get(device_id) or {"hb_s": self.hb_default_s})

    def connection(self, device_id: str, now: datetime | None = None) -> str:
        view = self.live.get(device_id)
        if not view:
            return UNKNOWN
        return connection_state(view.get("st"), view.get("seen_at"),
                                view.get("hb_s", self.hb_default_s), now or self.clock())

    def online(self, device_id: str) -> bool | None:
        view = self.live.get(device_id)
        if not view:
            return None
        return self.connection(device_id) == ONLINE

    def check_silence(self, now: datetime | None = None) -> None:
        """Turn silent terminals "unresponsive" in the timeline (the ticker calls this)."""
        now = now or self.clock()
        with self._lock:
            for device_id, view in self.live.items():
                self._report_connection(device_id, view, now)

    def flush(self) -> int:
        """Write what is queued in one transaction; returns the rows written. On a database
        error the batch is put back and tried again next time."""
        with self._lock:
            seen, events = self._pending, self._events
            self._pending, self._events = [], []
        if not seen and not events:
            return 0
        if self.store is None:
            return 0
        try:
            self.store.write_batch(seen, events)
        except Exception:
            log.exception("status batch not written; retrying with the next one")
            with self._lock:
                self._pending[:0] = seen[-MAX_PENDING_ROWS:]
                self._events[:0] = events[-MAX_PENDING_EVENTS:]
            return 0
        return len(seen) + len(events)

