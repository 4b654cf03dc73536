"""FastStatement (adapters/fast_sql.py) gives what SQLAlchemy's own execution gives, on SQLite
and PostgreSQL: the statement's own bound values, column defaults, type processing both ways,
errors translated, rows by name, and the engine's cursor events."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    bindparam,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from fleet_server.adapters.db import make_engine
from fleet_server.adapters.fast_sql import FastStatement, dump_rows, json_rows
from fleet_server.adapters.sql_types import UTCDateTime

_meta = MetaData()
_things = Table(
    "fast_things", _meta,
    Column("id", Integer, primary_key=True),
    Column("name", String(20), nullable=False, unique=True),
    Column("count", BigInteger, nullable=False, default=7),
    Column("ok", Boolean, nullable=False, default=False),
    Column("seen_at", UTCDateTime, nullable=True),
)
_ADD = FastStatement(insert(_things).returning(_things.c.id))
_GET = FastStatement(select(_things).where(_things.c.name == bindparam("name")))
_BUMP = FastStatement(update(_things).where(_things.c.name == bindparam("w_name"))
                      .values(count=func.coalesce(_things.c.count, 0) + bindparam("by")))


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/fast.sqlite3"
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    engine = make_engine(url)
    _meta.create_all(engine)
    yield engine
    engine.dispose()


def test_rows_come_back_by_name_with_defaults_and_aware_times(engine):
    paris = timezone(timedelta(hours=1))
    with engine.begin() as conn:
        first = _ADD.run(conn, {"name": "a", "seen_at": datetime(2026, 12, 5, 13, 0,
                                                                  tzinfo=paris)}).scalar()
        _ADD.run(conn, {"name": "b", "ok": True})
    with engine.begin() as conn:
        a = _GET.run(conn, {"name": "a"}).one()
        b = _GET.run(conn, {"name": "b"}).first()
        assert _GET.run(conn, {"name": "nobody"}).first() is None
    assert a.id == first and a.count == 7 and a.ok is False
    assert a.seen_at == datetime(2026, 12, 5, 12, 0, tzinfo=UTC) and a.seen_at.tzinfo is UTC
    assert b.ok is True and b.seen_at is None


def test_the_statement_s_own_values_and_rowcount(engine):
    with engine.begin() as conn:
        _ADD.run(conn, {"name": "a", "count": 1})
        assert _BUMP.run(conn, {"w_name": "a", "by": 41}).rowcount == 1
        assert _BUMP.run(conn, {"w_name": "nobody", "by": 1}).rowcount == 0
        assert _GET.run(conn, {"name": "a"}).one().count == 42


def test_a_naive_time_is_refused_as_by_sqlalchemy(engine):
    with engine.begin() as conn, pytest.raises(ValueError, match="naive"):
        _ADD.run(conn, {"name": "a", "seen_at": datetime(2026, 12, 5, 12, 0)})


def test_database_errors_are_sqlalchemy_s_and_roll_back(engine):
    with engine.begin() as conn:
        _ADD.run(conn, {"name": "a"})
    with pytest.raises(IntegrityError) as caught, engine.begin() as conn:
        _ADD.run(conn, {"name": "b"})
        _ADD.run(conn, {"name": "a"})
    assert caught.value.orig is not None
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(_things)).scalar() == 1


def test_cursor_events_see_every_statement(engine):
    seen = []

    def before(_conn, _cursor, statement, *_args):
        seen.append(statement.split()[0])

    event.listen(engine, "before_cursor_execute", before)
    try:
        with engine.begin() as conn:
            _ADD.run(conn, {"name": "a"})
            _GET.run(conn, {"name": "a"})
    finally:
        event.remove(engine, "before_cursor_execute", before)
    assert [s for s in seen if s != "BEGIN"] == ["INSERT", "SELECT"]


def test_expanding_parameters_are_refused(engine):
    many = FastStatement(select(_things).where(
        _things.c.name.in_(bindparam("names", expanding=True))))
    with engine.begin() as conn, pytest.raises(ValueError, match="expanding"):
        many.run(conn, {"names": ["a"]})


def test_a_lost_connection_is_invalidated_and_the_next_transaction_gets_a_new_one(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("a server that drops the connection")
    with engine.begin() as conn:
        _ADD.run(conn, {"name": "a"})
    with pytest.raises(OperationalError) as caught, engine.begin() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with engine.connect() as other:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
        _GET.run(conn, {"name": "a"})
    assert caught.value.connection_invalidated
    with engine.begin() as conn:
        assert _GET.run(conn, {"name": "a"}).one().count == 7


def test_a_statement_on_a_connection_without_a_transaction_begins_one(engine):
    begun = []

    def seen(conn):
        begun.append(conn)

    event.listen(engine, "begin", seen)
    try:
        with engine.connect() as conn:
            _GET.run(conn, {"name": "a"})
            assert conn.in_transaction() and len(begun) == 1
            _GET.run(conn, {"name": "a"})
            assert len(begun) == 1
            conn.rollback()
    finally:
        event.remove(engine, "begin", seen)


_blobs = Table(
    "fast_blobs", _meta,
    Column("id", Integer, primary_key=True),
    Column("name", String(40)),
    Column("count", BigInteger),
    Column("data", LargeBinary),
    Column("seen_at", UTCDateTime),
)
_ROWS = json_rows("rows", list(_blobs.c))
_ADD_MANY = FastStatement(insert(_blobs).from_select(
    [c.name for c in _blobs.c], select(*[_ROWS.c[c.name] for c in _blobs.c])))


@given(st.lists(st.fixed_dictionaries({
    "name": st.none() | st.text(max_size=40).filter(lambda t: "\x00" not in t),
    "count": st.none() | st.integers(-2**63, 2**63 - 1),
    "data": st.none() | st.binary(max_size=64),
    "seen_at": st.none() | st.datetimes(timezones=st.just(UTC)),
}), max_size=8))
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_many_rows_in_one_json_parameter_come_back_as_given(json_engine, rows):
    with json_engine.begin() as conn:
        conn.execute(_blobs.delete())
        _ADD_MANY.run(conn, {"rows": dump_rows([dict(row, id=i) for i, row in
                                                enumerate(rows)])})
        back = conn.execute(select(_blobs).order_by(_blobs.c.id)).all()
    assert [dict(row._mapping) for row in back] == [dict(row, id=i) for i, row in
                                                     enumerate(rows)]


def test_a_naive_datetime_is_refused_in_json_rows():
    with pytest.raises(ValueError, match="naive"):
        dump_rows([{"seen_at": datetime(2026, 12, 6, 5, 0)}])


@pytest.fixture(scope="module")
def json_engine(postgres_databases):
    """PostgreSQL (json_rows is PostgreSQL's): one database for the module's examples."""
    engine = make_engine(postgres_databases())
    _meta.create_all(engine)
    yield engine
    engine.dispose()
