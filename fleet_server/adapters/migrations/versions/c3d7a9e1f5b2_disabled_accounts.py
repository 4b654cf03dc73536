"""web accounts: when an account was switched off (disabled_at)

Revision ID: c3d7a9e1f5b2
Revises: b8c1e5f0d2a7
Create Date: 2026-12-04 17:00:00

`active` is false both before the first activation and after an admin switched the account
off, so a disabled invitation used to activate itself through its link. `disabled_at` says
which. Accounts activated and now inactive were switched off: they get the migration's time.
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import fleet_server.adapters.sql_types

revision = "c3d7a9e1f5b2"
down_revision = "b8c1e5f0d2a7"
branch_labels = None
depends_on = None

_UTC = fleet_server.adapters.sql_types.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("web_users") as batch:
        batch.add_column(sa.Column("disabled_at", _UTC, nullable=True))
    users = sa.table("web_users", sa.column("active", sa.Boolean()),
                     sa.column("activated_at", _UTC), sa.column("disabled_at", _UTC))
    op.execute(users.update().where(users.c.active.is_(False), users.c.activated_at.isnot(None))
               .values(disabled_at=datetime.now(UTC)))


def downgrade() -> None:
    with op.batch_alter_table("web_users") as batch:
        batch.drop_column("disabled_at")
