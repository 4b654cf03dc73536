"""firmware releases: the release key's rollback statement (rollback_sig)

Revision ID: f2a4c6e8b1d3
Revises: e7f9c1d3a5b8
Create Date: 2026-12-04 17:30:00

A campaign may install a release older than the one a terminal runs only with a rollback
statement naming that release, signed off the server with the release key (protocol/
rollback.py). Its signature is kept with the release and sent in the offer's "dg".
"""

import sqlalchemy as sa
from alembic import op

revision = "f2a4c6e8b1d3"
down_revision = "e7f9c1d3a5b8"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("update_releases") as batch:
        batch.add_column(sa.Column("rollback_sig", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("update_releases") as batch:
        batch.drop_column("rollback_sig")
