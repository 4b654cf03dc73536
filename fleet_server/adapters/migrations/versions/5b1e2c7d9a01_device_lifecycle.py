"""device life cycle: claim codes, re-key, retirement; requests keyed by (device, key id, seq)

Revision ID: 5b1e2c7d9a01
Revises: 2977b4271fdd
Create Date: 2026-11-26 00:40:00

Existing request rows get the key id their device has now (no terminal was ever re-keyed before
this revision) and keep their ledger idempotency key "device:seq", so a retransmission of a
request answered or pending before the upgrade reaches the ledger under the same key.
"""

import sqlalchemy as sa
from alembic import op

import fleet_server.adapters.sql_types

revision = "5b1e2c7d9a01"
down_revision = "2977b4271fdd"
branch_labels = None
depends_on = None

_UTC = fleet_server.adapters.sql_types.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claim_code_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("allocated_at", _UTC, nullable=True))
        batch_op.add_column(sa.Column("claimed_at", _UTC, nullable=True))
        batch_op.add_column(sa.Column("retired_at", _UTC, nullable=True))
        batch_op.add_column(sa.Column("pending_key_id", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("rekey_sent_at", _UTC, nullable=True))
        batch_op.add_column(sa.Column("previous_highest_seq", sa.BigInteger(), nullable=True))

    with op.batch_alter_table("device_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_id", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("ledger_key", sa.String(length=128), nullable=True))
    op.execute(
        "UPDATE device_requests SET key_id = (SELECT devices.initial_key_id FROM devices "
        "WHERE devices.device_id = device_requests.device_id), "
        "ledger_key = device_id || ':' || CAST(seq AS VARCHAR(24))")
    with op.batch_alter_table("device_requests", schema=None) as batch_op:
        batch_op.alter_column("key_id", existing_type=sa.String(length=16), nullable=False)
        batch_op.drop_constraint("pk_device_requests", type_="primary")
        batch_op.create_primary_key("pk_device_requests", ["device_id", "key_id", "seq"])

    op.create_table(
        "claim_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("partner_id", sa.String(length=40), nullable=False),
        sa.Column("device_id", sa.String(length=24), nullable=True),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_failures")),
    )
    with op.batch_alter_table("claim_failures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_claim_failures_partner_id"), ["partner_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_claim_failures_at"), ["at"], unique=False)

    op.create_table(
        "bdk_rotations",
        sa.Column("bdk_id", sa.String(length=8), nullable=False),
        sa.Column("activated_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("bdk_id", name=op.f("pk_bdk_rotations")),
    )


def downgrade() -> None:
    op.drop_table("bdk_rotations")
    with op.batch_alter_table("claim_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_claim_failures_at"))
        batch_op.drop_index(batch_op.f("ix_claim_failures_partner_id"))
    op.drop_table("claim_failures")
    # Requests of earlier keys would collide on (device_id, seq): keep the current key's only.
    op.execute("DELETE FROM device_requests WHERE key_id <> (SELECT devices.initial_key_id "
               "FROM devices WHERE devices.device_id = device_requests.device_id)")
    with op.batch_alter_table("device_requests", schema=None) as batch_op:
        batch_op.drop_constraint("pk_device_requests", type_="primary")
        batch_op.create_primary_key("pk_device_requests", ["device_id", "seq"])
        batch_op.drop_column("ledger_key")
        batch_op.drop_column("key_id")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch copy of "devices" would drop a
    # table that other tables reference, which SQLite's foreign keys refuse.
    for name in ("previous_highest_seq", "rekey_sent_at", "pending_key_id", "retired_at",
                 "claimed_at", "allocated_at", "claim_code_hash"):
        op.drop_column("devices", name)
