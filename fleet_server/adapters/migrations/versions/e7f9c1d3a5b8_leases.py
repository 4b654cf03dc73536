"""leases: which server process runs the jobs that must run once (settlement, campaign pacing,
alerts, status writes), until when

Revision ID: e7f9c1d3a5b8
Revises: d5e8b2c4f6a1
Create Date: 2026-12-04 17:00:00
"""

import sqlalchemy as sa
from alembic import op

import fleet_server.adapters.sql_types

revision = "e7f9c1d3a5b8"
down_revision = "d5e8b2c4f6a1"
branch_labels = None
depends_on = None

_UTC = fleet_server.adapters.sql_types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("holder", sa.String(120), nullable=False),
        sa.Column("expires_at", _UTC, nullable=False),
        sa.Column("acquired_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")))


def downgrade() -> None:
    op.drop_table("leases")
