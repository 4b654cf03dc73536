"""Tables of the support desk (SQLAlchemy Core on the shared metadata). Migration:
migrations/versions/7c4d1f0e3b22_support_desk.py, and a1c3e5f7b9d2_support_codes.py for the
events' and alerts' codes and details. Bounded: the ticker prunes the timeline to
the newest events per terminal and the chart samples to the last days."""

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from fleet_server.adapters.db import Base
from fleet_server.adapters.sql_types import UTCDateTime

metadata = Base.metadata

# Signal strength and free memory over time (one point per terminal per 30 s at most).
support_samples = Table(
    "support_samples", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device_id", String(24), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("rssi", Integer),
    Column("heap", Integer),
    Index("ix_support_samples_device_at", "device_id", "at"),
)

support_events = Table(
    "support_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device_id", String(24), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("kind", String(16), nullable=False),
    # What happened as a code and its data (JSON), worded by the front ends; rows written
    # before the codes have none and keep their French sentence in summary.
    Column("code", String(32)),
    Column("details", Text),
    Column("summary", String(300)),
    Index("ix_support_events_device_id_id", "device_id", "id"),
)

support_interventions = Table(
    "support_interventions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device_id", String(24), ForeignKey("devices.device_id"), nullable=False,
           index=True),
    Column("partner_id", String(40), index=True),
    Column("category", String(24), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("title", String(200), nullable=False),
    Column("opened_by", String(120), nullable=False),
    Column("opened_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("resolved_at", UTCDateTime()),
    Column("alert_id", Integer),
)

support_notes = Table(
    "support_notes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("intervention_id", Integer, ForeignKey("support_interventions.id"),
           nullable=False, index=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("author", String(120), nullable=False),
    Column("text", Text, nullable=False),
)

support_commands = Table(
    "support_commands", metadata,
    Column("id", String(32), primary_key=True),
    Column("device_id", String(24), ForeignKey("devices.device_id"), nullable=False),
    Column("name", String(16), nullable=False),
    Column("args", Text, nullable=False),  # canonical JSON
    Column("reason", String(500), nullable=False),
    Column("requested_by", String(120), nullable=False),
    Column("requested_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("timeout_s", Integer, nullable=False),
    Column("state", String(12), nullable=False, index=True),
    Column("sent_at", UTCDateTime()),
    Column("deadline_at", UTCDateTime()),
    Column("answered_at", UTCDateTime()),
    Column("ok", Boolean),
    Column("code", String(32)),
    Column("result", Text),  # JSON, at most one command_res (8 KiB)
    Column("intervention_id", Integer, ForeignKey("support_interventions.id"), index=True),
    Index("ix_support_commands_device_requested", "device_id", "requested_at"),
)

# Who did what, when, why, and what came of it. Never updated except to add the result.
support_audit = Table(
    "support_audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False, index=True),
    Column("actor", String(120), nullable=False, index=True),
    Column("role", String(16), nullable=False),
    Column("action", String(40), nullable=False),
    Column("device_id", String(24), index=True),
    Column("target", String(40), index=True),
    Column("reason", String(500)),
    Column("result", String(500)),
)

support_alerts = Table(
    "support_alerts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device_id", String(24), nullable=False, index=True),
    Column("partner_id", String(40), index=True),
    Column("kind", String(24), nullable=False),
    Column("severity", String(8), nullable=False),
    Column("details", Text),  # the condition's facts (JSON); older alerts: their summary
    Column("summary", String(300)),
    Column("raised_at", UTCDateTime(), nullable=False),
    Column("cleared_at", UTCDateTime(), index=True),
)
