"""The jobs lease on the real databases: one holder among server processes, handed over when
the holder stops, taken over once it expires when the holder dies."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from fleet_server.adapters.db import make_engine
from fleet_server.adapters.migrations import upgrade
from fleet_server.adapters.sql_lease import SqlLease


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path):
    url = (f"sqlite:///{tmp_path}/fleet.sqlite3" if request.param == "sqlite"
           else request.getfixturevalue("fresh_postgres_url"))
    engine = make_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()


class Clock:
    def __init__(self):
        self.now = datetime(2026, 12, 4, 12, tzinfo=UTC)

    def __call__(self):
        return self.now


def test_one_holder_at_a_time_and_a_dead_holder_is_replaced_once_expired(engine):
    clock = Clock()
    a, b = (SqlLease(engine, ttl_s=15, clock=clock, holder=h) for h in ("a", "b"))
    assert a.try_hold() and not b.try_hold()
    clock.now += timedelta(seconds=10)
    assert a.try_hold() and not b.try_hold()  # renewed: good for 15 s from now
    clock.now += timedelta(seconds=14)
    assert not b.try_hold()
    clock.now += timedelta(seconds=2)  # a died without renewing: its lease expired
    assert b.try_hold() and not a.try_hold()


def test_a_stopping_holder_hands_over_at_once(engine):
    a = SqlLease(engine, ttl_s=3, holder="a").start()
    b = SqlLease(engine, ttl_s=3, holder="b").start()
    try:
        assert a.held() and not b.held()
        a.stop()
        deadline = time.monotonic() + 5
        while not b.held():
            assert time.monotonic() < deadline, "the lease was not taken over"
            time.sleep(0.05)
        assert not a.held()
    finally:
        a.stop()
        b.stop()


def test_a_process_that_does_not_coordinate_counts_as_the_only_one(engine):
    assert SqlLease(engine).held()  # a CLI command or a test: nothing to share with
