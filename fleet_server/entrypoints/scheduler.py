"""The nightly settlement ("télécollecte") scheduler.

Every minute it checks whether tonight's run has been done: the run whose cut-off is the last
Paris midnight. That run batches every operation still pending before the cut-off, whatever its
day: the day that just ended, days a stopped server missed, operations freed by a cancelled
batch, operations committed after their day was settled. So every approved, not voided
operation made before a midnight is in exactly one live batch once that night's run is done.

The database lock (adapters/run_lock.py) makes each night's run happen once across server
instances; operations are batched by conditional updates, so even two runs at once (an operator's
`fleet settle` during the nightly one) batch each operation once.

The runs are the ledger administration's (Fleet.ledger_admin); a remote ledger settles where it
runs, so with one there is nothing to batch here."""

import logging
import threading
from datetime import UTC, date, datetime

from fleet_server.adapters import run_lock
from fleet_server.domain.paris_days import paris_day
from fleet_server.ledger.views import BatchView

log = logging.getLogger("fleet.scheduler")

# Run keys are cut-off dates ("2026-11-25": everything before 25 November, 00:00 Paris).
JOB = "nightly-settlement"
TICK_S = 60


def tonight_cutoff(now: datetime) -> date:
    """The Paris date whose midnight is the cut-off of the last nightly run due at `now`."""
    return paris_day(now)


def _summary(batches: list[BatchView]) -> list[str]:
    per_day: dict[date, int] = {}
    for batch in batches:
        per_day[batch.day] = per_day.get(batch.day, 0) + 1
    return [f"{day.isoformat()}: {count} batch(es)" for day, count in sorted(per_day.items())]


def run_due_settlements(fleet, day: date | None = None, now: datetime | None = None,
                        force: bool = False) -> list[str]:
    """Tonight's run if it is due (once across instances). `day` settles that Paris day now;
    `force` settles everything pending before today even if tonight's run was done (both are
    an operator's explicit request, and safe beside a running nightly run)."""
    now = now or datetime.now(UTC)
    sf = fleet.session_factory
    ledger = fleet.ledger_admin  # None: a remote ledger, which settles where it runs
    if day is not None:
        lines = _summary(ledger.run_settlement(day) if ledger is not None else [])
        return lines or [f"{day.isoformat()}: nothing left to settle"]
    cutoff = tonight_cutoff(now)
    if force:
        lines = _summary(ledger.settle_before(cutoff) if ledger is not None else [])
        return lines or [f"nothing left to settle before {cutoff.isoformat()}"]
    key = cutoff.isoformat()
    if run_lock.finished(sf, JOB, key):
        return []
    if not run_lock.try_acquire(sf, JOB, key, now):
        return [f"run before {key}: being done by another instance"]
    try:
        batches = ledger.settle_before(cutoff) if ledger is not None else []
    except Exception as err:
        log.exception("nightly settlement before %s failed", key)
        return [f"run before {key}: failed ({err})"]  # retried once the lock is stale
    lines = _summary(batches)
    run_lock.finish(sf, JOB, key, datetime.now(UTC), "; ".join(lines) or "nothing to settle")
    for line in lines:
        log.info("settlement %s", line)
    return lines or [f"run before {key}: nothing to settle"]


def start_scheduler(fleet, tick_s: float = TICK_S) -> threading.Event:
    """Run the settlement loop in a daemon thread; set the returned event to stop it."""
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            try:
                if fleet.lease is None or fleet.lease.held():  # one process settles
                    run_due_settlements(fleet)
            except Exception:  # the loop survives a database hiccup and tries again
                log.exception("settlement tick failed")
            stop.wait(tick_s)

    threading.Thread(target=loop, name="settlement-scheduler", daemon=True).start()
    fleet.scheduler_stop = stop
    return stop
