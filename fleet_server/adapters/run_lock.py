"""Run a scheduled job once across all server instances, through the database.

The first instance to insert (job, run_key) owns the run; a run whose owner died (started but
not finished after STALE_AFTER) can be taken over, with a conditional update so that only one
instance takes it."""

import os
import socket
from datetime import datetime, timedelta

from sqlalchemy import and_, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from fleet_server.adapters.orm import scheduler_runs as runs

STALE_AFTER = timedelta(minutes=15)
OWNER = f"{socket.gethostname()}:{os.getpid()}"


def try_acquire(session_factory: sessionmaker, job: str, run_key: str, now: datetime) -> bool:
    with session_factory() as session:
        try:
            session.execute(insert(runs).values(job=job, run_key=run_key, owner=OWNER,
                                                started_at=now))
            session.commit()
            return True
        except IntegrityError:
            session.rollback()
        taken = session.execute(
            update(runs).where(and_(runs.c.job == job, runs.c.run_key == run_key,
                                    runs.c.finished_at.is_(None),
                                    runs.c.started_at < now - STALE_AFTER))
            .values(owner=OWNER, started_at=now))
        session.commit()
        return taken.rowcount == 1


def finish(session_factory: sessionmaker, job: str, run_key: str, now: datetime,
           result: str) -> None:
    with session_factory() as session:
        session.execute(update(runs).where(and_(runs.c.job == job, runs.c.run_key == run_key))
                        .values(finished_at=now, result=result[:400]))
        session.commit()


def finished(session_factory: sessionmaker, job: str, run_key: str) -> bool:
    with session_factory() as session:
        return session.execute(select(runs.c.run_key).where(
            and_(runs.c.job == job, runs.c.run_key == run_key,
                 runs.c.finished_at.is_not(None)))).first() is not None
