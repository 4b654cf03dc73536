"""support desk: chart samples, timeline, commands, interventions, notes, audit, alerts

Revision ID: 7c4d1f0e3b22
Revises: 2977b4271fdd
Create Date: 2026-11-26 00:50:00
"""

import sqlalchemy as sa
from alembic import op

from fleet_server.adapters.sql_types import UTCDateTime

revision = "7c4d1f0e3b22"
down_revision = "2977b4271fdd"
branch_labels = None
depends_on = None


def _pk(table: str) -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint("id", name=f"pk_{table}")


def upgrade() -> None:
    op.create_table(
        "support_samples",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(24), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("rssi", sa.Integer()),
        sa.Column("heap", sa.Integer()),
        _pk("support_samples"))
    op.create_index("ix_support_samples_device_at", "support_samples", ["device_id", "at"])

    op.create_table(
        "support_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(24), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("summary", sa.String(300), nullable=False),
        _pk("support_events"))
    op.create_index("ix_support_events_device_id_id", "support_events", ["device_id", "id"])

    op.create_table(
        "support_interventions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(24), nullable=False),
        sa.Column("partner_id", sa.String(40)),
        sa.Column("category", sa.String(24), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("opened_by", sa.String(120), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime()),
        sa.Column("alert_id", sa.Integer()),
        sa.ForeignKeyConstraint(["device_id"], ["devices.device_id"],
                                name="fk_support_interventions_device_id_devices"),
        _pk("support_interventions"))
    for column in ("device_id", "partner_id", "status"):
        op.create_index(f"ix_support_interventions_{column}", "support_interventions",
                        [column])

    op.create_table(
        "support_notes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("intervention_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("author", sa.String(120), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["intervention_id"], ["support_interventions.id"],
                                name="fk_support_notes_intervention_id_support_interventions"),
        _pk("support_notes"))
    op.create_index("ix_support_notes_intervention_id", "support_notes", ["intervention_id"])

    op.create_table(
        "support_commands",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("device_id", sa.String(24), nullable=False),
        sa.Column("name", sa.String(16), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("requested_by", sa.String(120), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("timeout_s", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("sent_at", UTCDateTime()),
        sa.Column("deadline_at", UTCDateTime()),
        sa.Column("answered_at", UTCDateTime()),
        sa.Column("ok", sa.Boolean()),
        sa.Column("code", sa.String(32)),
        sa.Column("result", sa.Text()),
        sa.Column("intervention_id", sa.Integer()),
        sa.ForeignKeyConstraint(["device_id"], ["devices.device_id"],
                                name="fk_support_commands_device_id_devices"),
        sa.ForeignKeyConstraint(
            ["intervention_id"], ["support_interventions.id"],
            name="fk_support_commands_intervention_id_support_interventions"),
        sa.PrimaryKeyConstraint("id", name="pk_support_commands"))
    op.create_index("ix_support_commands_state", "support_commands", ["state"])
    op.create_index("ix_support_commands_intervention_id", "support_commands",
                    ["intervention_id"])
    op.create_index("ix_support_commands_device_requested", "support_commands",
                    ["device_id", "requested_at"])

    op.create_table(
        "support_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("device_id", sa.String(24)),
        sa.Column("target", sa.String(40)),
        sa.Column("reason", sa.String(500)),
        sa.Column("result", sa.String(500)),
        _pk("support_audit"))
    for column in ("at", "actor", "device_id", "target"):
        op.create_index(f"ix_support_audit_{column}", "support_audit", [column])

    op.create_table(
        "support_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(24), nullable=False),
        sa.Column("partner_id", sa.String(40)),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("summary", sa.String(300), nullable=False),
        sa.Column("raised_at", UTCDateTime(), nullable=False),
        sa.Column("cleared_at", UTCDateTime()),
        _pk("support_alerts"))
    for column in ("device_id", "partner_id", "cleared_at"):
        op.create_index(f"ix_support_alerts_{column}", "support_alerts", [column])


def downgrade() -> None:
    for table in ("support_alerts", "support_audit", "support_commands", "support_notes",
                  "support_interventions", "support_events", "support_samples"):
        op.drop_table(table)
