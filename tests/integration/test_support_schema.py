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


def test_rows_stored_as_sentences_read_as_stored_beside_rows_stored_as_codes(db_url):
    """Events and alerts written before the codes keep their French sentence (code and details
    empty); new ones are a code and its data, worded at the edge the same way."""
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from fleet_server.adapters.sql_support import SqlSupportStore
    from fleet_server.domain.support import TimelineEvent
    from fleet_server.entrypoints.support_texts import alert_detail, timeline_text

    engine = make_engine(db_url)
    upgrade(engine)
    at = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(insert(orm_support.support_events).values(
            device_id="CTOLDROW", at=at, kind="reboot",
            summary="redémarrage (soft), démarrage n° 2"))
        conn.execute(insert(orm_support.support_alerts).values(
            device_id="CTOLDROW", kind="offline", severity="high",
            summary="hors ligne depuis 42 min", raised_at=at))
    store = SqlSupportStore(engine)
    store.write_batch([], [TimelineEvent("CTOLDROW", at, "reboot", "rebooted",
                                         {"rst": "soft", "boots": 3})])
    newer, older = store.timeline("CTOLDROW")
    assert (older.code, timeline_text(older)) == (None, "redémarrage (soft), démarrage n° 2")
    assert (newer.code, timeline_text(newer)) == ("rebooted", "redémarrage (soft), démarrage n° 3")
    [alert] = store.alerts(device_id="CTOLDROW")
    assert alert_detail(alert.kind, alert.details, alert.text) == "hors ligne depuis 42 min"
    store.update_alert(alert.alert_id, {"connection": "offline", "minutes": 43})
    [alert] = store.alerts(device_id="CTOLDROW")
    assert alert_detail(alert.kind, alert.details, alert.text) == "hors ligne depuis 43 min"
    engine.dispose()
