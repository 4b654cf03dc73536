"""reference ledger: the managed list of categories (code + French label)

Revision ID: d5e8b2c4f6a1
Revises: c3d7a9e1f5b2
Create Date: 2026-12-04 17:20:00

Starts with the usual categories; any code already used by a pot, voucher, coupon series or
agreement is listed too (labelled with its code until the operator renames it), so existing
data stays valid.
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import fleet_server.adapters.sql_types

revision = "d5e8b2c4f6a1"
down_revision = "c3d7a9e1f5b2"
branch_labels = None
depends_on = None

_UTC = fleet_server.adapters.sql_types.UTCDateTime(timezone=True)
# The same list as fleet_server.reference_ledger.categories.DEFAULTS, written here as it was on the day:
# a migration must not change when the code does.
_DEFAULTS = (("books", "Livres"), ("culture", "Culture"), ("sport", "Sport"),
             ("driving", "Permis de conduire"), ("music", "Musique"), ("cinema", "Cinéma"),
             ("theatre", "Théâtre"))
_USERS = ("ledger_pots", "ledger_vouchers", "ledger_coupon_series", "ledger_agreements")


def upgrade() -> None:
    table = op.create_table(
        "ledger_categories",
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("label", sa.String(60), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_ledger_categories")))
    now = datetime.now(UTC)
    known = dict(_DEFAULTS)
    bind = op.get_bind()
    for name in _USERS:
        for (code,) in bind.execute(sa.text(f"SELECT DISTINCT category FROM {name}")):
            known.setdefault(code, code)
    op.bulk_insert(table, [{"code": code, "label": label, "created_at": now}
                           for code, label in known.items()])


def downgrade() -> None:
    op.drop_table("ledger_categories")
