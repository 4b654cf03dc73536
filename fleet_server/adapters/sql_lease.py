"""A lease in the database: the one server process that holds it runs the jobs that must run
once across processes (nightly settlement, campaign pacing, alerts and command timeouts, the
live view's writes, what a terminal coming online is sent). The holder renews it every third of
its time to live; when the holder dies, another process takes it once it has expired.

The holder counts its lease as lost a third of the time to live before the row expires (and at
once when a renewal fails), so two processes never both believe they hold it while their
clocks agree within that margin (NTP keeps servers far closer than the 5 s of the default)."""

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, insert, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from fleet_server.adapters.orm import leases

log = logging.getLogger("fleet.lease")


def utcnow() -> datetime:
    return datetime.now(UTC)


class SqlLease:
    def __init__(self, engine: Engine, name: str = "jobs", ttl_s: float = 15.0,
                 clock: Callable[[], datetime] = utcnow, holder: str | None = None):
        self.engine, self.name, self.ttl_s, self.clock = engine, name, ttl_s, clock
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._valid_until = 0.0  # monotonic
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None

    def held(self) -> bool:
        """True while this process holds the lease. A process that does not coordinate (no
        keeper started: a CLI command, a test) counts as the only one."""
        if self._stop is None:
            return True
        return time.monotonic() < self._valid_until

    def try_hold(self) -> bool:
        """Take or renew the lease once; True when this process holds it now."""
        started, now = time.monotonic(), self.clock()
        until = now + timedelta(seconds=self.ttl_s)
        mine = and_(leases.c.name == self.name, leases.c.holder == self.holder)
        lapsed = and_(leases.c.name == self.name, leases.c.expires_at < now)
        try:
            with self.engine.begin() as conn:
                if conn.execute(update(leases).where(mine).values(expires_at=until)).rowcount:
                    return self._held(started)
                if conn.execute(update(leases).where(lapsed).values(
                        holder=self.holder, expires_at=until, acquired_at=now)).rowcount:
                    log.info("lease %s taken over by %s", self.name, self.holder)
                    return self._held(started)
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(leases).values(name=self.name, holder=self.holder,
                                                       expires_at=until, acquired_at=now))
                log.info("lease %s held by %s", self.name, self.holder)
                return self._held(started)
            except IntegrityError:
                pass  # someone else holds it
        except Exception:  # the database is away: whoever holds it lets it lapse
            log.exception("lease %s not renewed", self.name)
        self._valid_until = 0.0
        return False

    def _held(self, started: float) -> bool:
        self._valid_until = started + self.ttl_s * 2 / 3
        return True

    def start(self) -> "SqlLease":
        """Keep trying to take, then renew, the lease in a daemon thread."""
        if self._thread is not None:
            return self
        self._stop = threading.Event()

        def loop() -> None:
            while True:
                self.try_hold()
                if self._stop.wait(self.ttl_s / 3):
                    return

        self.try_hold()
        self._thread = threading.Thread(target=loop, name=f"lease-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop renewing and give the lease up at once, so another process takes over."""
        if self._stop is None:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._valid_until = 0.0
        try:
            with self.engine.begin() as conn:
                conn.execute(update(leases).where(and_(
                    leases.c.name == self.name, leases.c.holder == self.holder))
                    .values(expires_at=self.clock() - timedelta(seconds=1)))
        except Exception:  # it lapses by itself
            log.warning("lease %s not released", self.name)
