"""Which device ids may enter the live view: only terminals of the registry.

On a broker without per-device access control (a dev Mosquitto, an open embedded broker)
anyone can publish heartbeats and statuses under made-up ids; without this gate each one would
grow the live view and the timeline for good.

The gate holds every registered id, read in one query at first use, and reads them again
(one query) when an id it does not know shows up and the last read is older than a second. So
a flood of made-up ids costs one query a second, and every registered terminal is let in at
once even when thousands come back together: after a broker or server restart their retained
"online" statuses all arrive in the same second, and a per-id lookup budget (an earlier
version) dropped most of them, leaving terminals without their configuration for minutes.

Between two reads, an id the gate does not know is looked up on its own (one indexed query),
up to LOOKUPS_PER_S a second: a terminal that comes online just after a read (set off by a
made-up id, or by a retired terminal's last will) is let in at once instead of at its next
heartbeat, ten seconds later, with its configuration that late. A flood of made-up ids costs
one read and LOOKUPS_PER_S lookups a second.

A terminal whose first status arrives before its registration is committed is let in at its
next message: no refusal is remembered per id.
"""

import logging
import threading
import time
from collections.abc import Callable, Iterable

log = logging.getLogger("fleet.status")

REFRESH_EVERY_S = 1.0
LOOKUPS_PER_S = 20


class RegistryGate:
    def __init__(self, registered_ids: Callable[[], Iterable[str]],
                 is_registered: Callable[[str], bool] | None = None,
                 refresh_every_s: float = REFRESH_EVERY_S,
                 monotonic: Callable[[], float] = time.monotonic,
                 lookups_per_s: int = LOOKUPS_PER_S):
        self.registered_ids, self.refresh_every_s = registered_ids, refresh_every_s
        self.is_registered, self.lookups_per_s = is_registered, lookups_per_s
        self.monotonic = monotonic
        self.known: frozenset[str] | None = None  # read at first use
        self.refused = self.reads = self.lookups = 0
        self._read_at = float("-inf")
        self._lookup_second, self._lookups_this_second = float("-inf"), 0
        self._lock = threading.Lock()

    def __call__(self, device_id: str) -> bool:
        known = self.known
        if known is not None and device_id in known:
            return True
        with self._lock:
            read_now = (self.known is None or device_id not in self.known) and (
                self.monotonic() - self._read_at >= self.refresh_every_s)
            if read_now:
                self._read()
            if self.known is not None and device_id in self.known:
                return True
            if not read_now and self._look_up(device_id):
                return True
            self.refused += 1
        if self.refused % 1000 == 1:
            log.warning("status from %s, not in the registry: dropped (%d so far)",
                        device_id, self.refused)
        return False

    def _read(self) -> None:
        self._read_at = self.monotonic()
        try:
            self.known = frozenset(self.registered_ids())
            self.reads += 1
        except Exception:  # the registry cannot say: keep what is known, read again later
            log.exception("registered device ids could not be read")

    def _look_up(self, device_id: str) -> bool:
        """One id on its own, within the budget; a registered one joins the known ids."""
        now = self.monotonic()
        if self.is_registered is None or self.known is None:
            return False
        if now - self._lookup_second >= 1.0:
            self._lookup_second, self._lookups_this_second = now, 0
        if self._lookups_this_second >= self.lookups_per_s:
            return False
        self._lookups_this_second += 1
        self.lookups += 1
        try:
            registered = self.is_registered(device_id)
        except Exception:  # the registry cannot say: refused now, asked again later
            log.exception("device %s could not be looked up in the registry", device_id)
            return False
        if registered:
            self.known = self.known | {device_id}
        return registered
