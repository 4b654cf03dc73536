"""Heartbeats and status messages: when a terminal was last seen and what it runs.

Heartbeats arrive from every terminal every minute or so; the database is written at most once
per WRITE_EVERY_S per terminal (the in-memory view is always current)."""

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from fleet_server.service_layer.unit_of_work import UnitOfWork
from protocol import messages, topics
from protocol.errors import ProtocolError

log = logging.getLogger("fleet.status")

WRITE_EVERY_S = 30


class StatusTracker:
    def __init__(self, uow_factory: Callable[[], UnitOfWork], clock: Callable[[], datetime]):
        self.uow_factory, self.clock = uow_factory, clock
        self.live: dict[str, dict] = {}  # device id -> last heartbeat/status fields
        self._written: dict[str, float] = {}
        self._lock = threading.Lock()

    def handle(self, topic: str, payload: bytes) -> dict | None:
        """Record a heartbeat or status; returns the valid message, None for a refused one."""
        try:
            device_id, mtype = topics.parse(topic)
            message = messages.parse(payload, mtype)
            topics.check_sender(topic, message)
        except ProtocolError as err:
            log.warning("dropped %s: %s", topic[:80], err)
            return None
        now = self.clock()
        with self._lock:
            view = self.live.setdefault(device_id, {})
            view.update(message)
            view["seen_at"] = now
            last = self._written.get(device_id, 0.0)
            due = message["t"] == "status" or now.timestamp() - last >= WRITE_EVERY_S
            if due:
                self._written[device_id] = now.timestamp()
        if due:
            self._persist(device_id, message, now)
        return message

    def _persist(self, device_id: str, message: dict, now: datetime) -> None:
        with self.uow_factory() as uow:
            device = uow.devices.get(device_id)
            if device is None:
                log.warning("status from unknown device %s", device_id)
                return
            device.seen(now, message.get("fw"))
            uow.commit()

    def online(self, device_id: str) -> bool | None:
        view = self.live.get(device_id)
        if not view:
            return None
        return view.get("st", "online") == "online" if view.get("t") == "status" else True
