"""The support desk's migration builds exactly the tables of orm_support, on SQLite and
PostgreSQL, beside the other branches of the revision graph."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from fleet_server.adapters import orm_support
from fleet_server.adapters.db import make_engine
from fleet_server.adapters.migrations import upgrade

SUPPORT_TABLES = {"support_samples", "support_events", "support_interventions",
                  "support_notes", "support_commands", "support_audit", "support_alerts"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/schema.sqlite3"
    return request.getfixturevalue("fresh_postgres_url")


def test_the_migration_matches_the_tables(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    assert SUPPORT_TABLES <= set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = [d for d in compare_metadata(context, orm_support.metadata)
                if _table_of(d) in SUPPORT_TABLES]  # the other branches check their own
    assert diff == []
    engine.dispose()


def _table_of(entry) -> str | None:
    """The table an autogenerate difference is about, whatever its shape."""
    item = entry[0] if isinstance(entry, list) else entry
    for part in item[1:]:
        if isinstance(part, str) and part in SUPPORT_TABLES:
            return part
        table = getattr(part, "table", None)  # index, constraint, column
        if table is not None and getattr(table, "name", None):
            return table.name
        if getattr(part, "name", None) and hasattr(part, "columns") and hasattr(part, "c"):
            return part.name  # a Table
    return None
