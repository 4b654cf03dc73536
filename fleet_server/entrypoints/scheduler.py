"""The nightly settlement ("télécollecte") scheduler.

Every minute it settles each Paris day that has ended and is not settled yet, looking back
CATCH_UP_DAYS so that a server that was down at midnight catches up when it starts. The database
lock (adapters/run_lock.py) makes each day run once even with several server instances."""

import logging
import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from fleet_server.adapters import run_lock

log = logging.getLogger("fleet.scheduler")

PARIS = ZoneInfo("Europe/Paris")
JOB = "settlement"
CATCH_UP_DAYS = 7
TICK_S = 60


def days_due(now: datetime, settled: set[str], catch_up: int = CATCH_UP_DAYS) -> list[date]:
    """Paris days that have ended (midnight Paris passed) and are not settled, oldest first."""
    today_paris = now.astimezone(PARIS).date()
    days = [today_paris - timedelta(days=n) for n in range(catch_up, 0, -1)]
    return [d for d in days if d.isoformat() not in settled]


def run_due_settlements(fleet, day: date | None = None, now: datetime | None = None) -> list[str]:
    from fleet_server.ledger.settlement import run_settlement

    now = now or datetime.now(UTC)
    sf = fleet.session_factory
    days = [day] if day else days_due(now, run_lock.finished_keys(sf, JOB))
    report = []
    for d in days:
        key = d.isoformat()
        if not run_lock.try_acquire(sf, JOB, key, now):
            report.append(f"{key}: settled or being settled by another instance")
            continue
        try:
            batches = run_settlement(sf, d)
        except Exception as err:
            log.exception("settlement of %s failed", key)
            report.append(f"{key}: failed ({err})")
            continue  # the lock row stays unfinished and is retried once stale
        summary = f"{key}: {len(batches)} batch(es)"
        run_lock.finish(sf, JOB, key, datetime.now(UTC), summary)
        log.info("settlement %s", summary)
        report.append(summary)
    return report


def start_scheduler(fleet, tick_s: float = TICK_S) -> threading.Event:
    """Run the settlement loop in a daemon thread; set the returned event to stop it."""
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            try:
                run_due_settlements(fleet)
            except Exception:  # the loop survives a database hiccup and tries again
                log.exception("settlement tick failed")
            stop.wait(tick_s)

    threading.Thread(target=loop, name="settlement-scheduler", daemon=True).start()
    fleet.extras["scheduler_stop"] = stop
    return stop
