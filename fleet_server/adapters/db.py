"""SQLAlchemy 2.0 plumbing shared by every table: one metadata with a naming convention (so
Alembic migrations name constraints the same on SQLite and PostgreSQL), engines tuned per
backend, and sessions."""

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, sessionmaker

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, workers: int = 8, **kwargs) -> Engine:
    """`workers`: the request workers, each holding a connection for one transaction at a
    time. The pool keeps one for each and some for the console, the API and the tickers: a
    checkout beyond the pool's size opens a new connection and closes it afterwards (on
    PostgreSQL a backend started and ended), which FLEET_REQUEST_WORKERS=16 on a fixed pool of
    10 did under load."""
    if is_sqlite(url):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               **kwargs)
        _tune_sqlite(engine)
        return engine
    return create_engine(url, pool_size=max(10, workers + 6), max_overflow=20,
                         pool_recycle=1800, **kwargs)


def _tune_sqlite(engine: Engine) -> None:
    # WAL lets readers run beside the one writer; BEGIN IMMEDIATE takes the write lock at the
    # start of every transaction, so two debits on one pot serialise instead of deadlocking.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # Read-only work (engine.execution_options(sqlite_readonly=True)) takes no write lock.
        if conn.get_execution_options().get("sqlite_readonly"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)
