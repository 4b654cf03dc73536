"""support desk: timeline events and alerts as codes and details

Revision ID: a1c3e5f7b9d2
Revises: f2a4c6e8b1d3
Create Date: 2026-12-05 08:00:00

The services record what happened as a code and its data (JSON); the console, the CLI and the
API word it. Rows written before keep their French sentence in summary (now nullable) and are
shown as stored; new rows leave it empty.
"""

import sqlalchemy as sa
from alembic import op

revision = "a1c3e5f7b9d2"
down_revision = "f2a4c6e8b1d3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("support_events") as batch:
        batch.add_column(sa.Column("code", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("details", sa.Text(), nullable=True))
        batch.alter_column("summary", existing_type=sa.String(length=300), nullable=True)
    with op.batch_alter_table("support_alerts") as batch:
        batch.add_column(sa.Column("details", sa.Text(), nullable=True))
        batch.alter_column("summary", existing_type=sa.String(length=300), nullable=True)


def downgrade() -> None:
    # Rows written as codes have no sentence to keep: they go with their columns.
    op.execute("DELETE FROM support_events WHERE summary IS NULL")
    op.execute("UPDATE support_alerts SET summary = kind WHERE summary IS NULL")
    with op.batch_alter_table("support_alerts") as batch:
        batch.alter_column("summary", existing_type=sa.String(length=300), nullable=False)
        batch.drop_column("details")
    with op.batch_alter_table("support_events") as batch:
        batch.alter_column("summary", existing_type=sa.String(length=300), nullable=False)
        batch.drop_column("details")
        batch.drop_column("code")
