"""firmware updates: content-addressed files, releases, campaigns, devices in campaigns

Revision ID: a4f0d2b6c8e1
Revises: 2977b4271fdd
Create Date: 2026-11-26 01:00:00
"""

import sqlalchemy as sa
from alembic import op

from fleet_server.adapters.sql_types import UTCDateTime

revision = "a4f0d2b6c8e1"
down_revision = "2977b4271fdd"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "update_blobs",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_update_blobs"))
    op.create_table(
        "update_releases",
        sa.Column("version", sa.String(24), nullable=False),
        sa.Column("manifest", sa.LargeBinary(), nullable=False),
        sa.Column("manifest_sha", sa.String(64), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("models", sa.String(400), nullable=False),
        sa.Column("protocol", sa.Integer(), nullable=False),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("total_bytes", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("version", name="pk_update_releases"),
        sa.UniqueConstraint("manifest_sha", name="uq_update_releases_manifest_sha"))
    op.create_table(
        "update_campaigns",
        sa.Column("campaign_id", sa.String(32), nullable=False),
        sa.Column("release_version", sa.String(24), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(200)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime()),
        sa.PrimaryKeyConstraint("campaign_id", name="pk_update_campaigns"))
    op.create_index("ix_update_campaigns_state", "update_campaigns", ["state"])
    op.create_table(
        "update_campaign_devices",
        sa.Column("campaign_id", sa.String(32), nullable=False),
        sa.Column("device_id", sa.String(24), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(64)),
        sa.Column("pct", sa.Integer()),
        sa.Column("offered_at", UTCDateTime()),
        sa.Column("state_at", UTCDateTime()),
        sa.Column("finished_at", UTCDateTime()),
        sa.PrimaryKeyConstraint("campaign_id", "device_id", name="pk_update_campaign_devices"))
    op.create_index("ix_update_campaign_devices_campaign_state", "update_campaign_devices",
                    ["campaign_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_update_campaign_devices_campaign_state", "update_campaign_devices")
    op.drop_table("update_campaign_devices")
    op.drop_index("ix_update_campaigns_state", "update_campaigns")
    op.drop_table("update_campaigns")
    op.drop_table("update_releases")
    op.drop_table("update_blobs")
