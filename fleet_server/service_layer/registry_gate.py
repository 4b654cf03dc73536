"""Which device ids may enter the live view: only terminals of the registry.

On a broker without per-device access control (a dev Mosquitto, an open embedded broker)
anyone can publish heartbeats and statuses under made-up ids; without this gate each one would
grow the live view and the timeline for good. Registered ids are remembered once seen. An id
not (yet) known is looked up in the registry every time it shows up, within a budget of
lookups per second shared by all unknown ids, so a flood costs a bounded number of queries.

No refusal is remembered per id: a terminal whose first status arrives before its registration
is committed (or whose registration a cached refusal had not seen) is let in at its very next
message. An earlier version kept refusals for a minute; a terminal whose retained "online"
status was refused then stayed out of the live view until a later heartbeat.
"""

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("fleet.status")

LOOKUPS_PER_S = 20
MAX_KNOWN = 200_000


class RegistryGate:
    def __init__(self, lookup: Callable[[str], object | None], per_second: int = LOOKUPS_PER_S,
                 monotonic: Callable[[], float] = time.monotonic):
        self.lookup, self.per_second, self.monotonic = lookup, per_second, monotonic
        self.known: set[str] = set()
        self.refused = 0
        self._tokens, self._at = float(per_second), monotonic()
        self._lock = threading.Lock()

    def __call__(self, device_id: str) -> bool:
        if device_id in self.known:
            return True
        with self._lock:
            now = self.monotonic()
            self._tokens = min(self.per_second, self._tokens + (now - self._at) * self.per_second)
            self._at = now
            if self._tokens < 1:
                self.refused += 1
                return False  # over budget: dropped unasked, asked again next time
            self._tokens -= 1
        try:
            found = self.lookup(device_id) is not None
        except Exception:  # the registry cannot say: keep the view as it is, ask next time
            log.exception("registry lookup of %s failed", device_id)
            return False
        if not found:
            self.refused += 1
            if self.refused % 1000 == 1:
                log.warning("status from %s, not in the registry: dropped (%d so far)",
                            device_id, self.refused)
            return False
        if len(self.known) >= MAX_KNOWN:
            self.known.clear()
        self.known.add(device_id)
        return True
