"""Alembic migrations of every table (fleet and reference ledger), run from code.

    python -m fleet_server.adapters.migrations revision "what changed" [DB_URL]  (autogenerate)
    fleet serve / fleet db-upgrade                                       (upgrade to every head)
"""

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

HERE = Path(__file__).resolve().parent


def config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("path_separator", "os")
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "heads") -> None:
    # "heads": every branch of the revision graph, so that revisions written side by side on
    # the same parent apply before their merge revision exists (tests keep the history at one
    # head: tests/unit/fleet_server/test_migration_history.py).
    command.upgrade(config(engine), revision)


def main(argv: list[str]) -> int:
    from fleet_server.adapters.db import make_engine

    if len(argv) >= 2 and argv[0] == "revision":
        url = argv[2] if len(argv) > 2 else "sqlite:///migration-draft.sqlite3"
        engine = make_engine(url)
        upgrade(engine)
        command.revision(config(engine), message=argv[1], autogenerate=True)
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
