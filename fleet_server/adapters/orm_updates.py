"""Tables of firmware updates: the content-addressed file store, releases, campaigns and each
device's progress in a campaign (SQLAlchemy Core; migration a4f0d2b6c8e1)."""

from sqlalchemy import Column, Index, Integer, LargeBinary, String, Table, Text

from fleet_server.adapters.db import Base
from fleet_server.adapters.sql_types import UTCDateTime

# Every file of every release, once, by the SHA-256 of its content.
update_blobs = Table(
    "update_blobs", Base.metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

update_releases = Table(
    "update_releases", Base.metadata,
    Column("version", String(24), primary_key=True),
    Column("manifest", LargeBinary, nullable=False),  # the signed bytes, canonical JSON
    Column("manifest_sha", String(64), nullable=False, unique=True),
    Column("signature", String(128), nullable=False),  # ECDSA P-256 r || s, hex
    # The release key's rollback statement for this release (protocol/rollback.py), r || s:
    # what lets a campaign install it over a newer one. None: never older than the running one.
    Column("rollback_sig", String(128)),
    Column("models", String(400), nullable=False),  # comma-separated board names
    Column("protocol", Integer, nullable=False),
    Column("files", Integer, nullable=False),
    Column("total_bytes", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

update_campaigns = Table(
    "update_campaigns", Base.metadata,
    Column("campaign_id", String(32), primary_key=True),
    Column("release_version", String(24), nullable=False),
    # running, paused, cancelled, aborted, completed
    Column("state", String(12), nullable=False, index=True),
    Column("target", Text, nullable=False),  # JSON: what was asked for
    Column("rules", Text, nullable=False),  # JSON: pacing, abort, timeout and retry settings
    Column("reason", String(200)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
)

update_campaign_devices = Table(
    "update_campaign_devices", Base.metadata,
    Column("campaign_id", String(32), primary_key=True),
    Column("device_id", String(24), primary_key=True),
    # pending, offered, the device's reported states, timed_out, skipped
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("reason", String(64)),
    Column("pct", Integer),
    Column("offered_at", UTCDateTime()),
    Column("state_at", UTCDateTime()),
    Column("finished_at", UTCDateTime()),
    Index("ix_update_campaign_devices_campaign_state", "campaign_id", "state"),
)
