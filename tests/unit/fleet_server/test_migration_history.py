from alembic.script import ScriptDirectory

from fleet_server.adapters.migrations import config


def test_the_migration_history_has_one_head():
    # Revisions written side by side must be joined by a merge revision (as b8c1e5f0d2a7
    # does), so that `python -m fleet_server.adapters.migrations revision` has one parent.
    assert len(ScriptDirectory.from_config(config()).get_heads()) == 1
