"""SQL adapters of the update service's ports (SQLAlchemy Core on orm_updates' tables), the
device directory over the registry, and the release keys the server trusts."""

import ast
import json
import os
from datetime import datetime
from pathlib import Path

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.engine import Engine

from fleet_server.adapters import orm
from fleet_server.adapters.orm_updates import (
    update_blobs,
    update_campaign_devices,
    update_campaigns,
    update_releases,
)
from fleet_server.domain.devices import RETIRED
from fleet_server.service_layer import updates_releases as rel
from fleet_server.service_layer.campaigns_ports import (
    PENDING,
    CampaignStore,
    DeviceDirectory,
    FleetDevice,
    ReleaseStore,
    Target,
)

FIRMWARE_KEYS = Path(__file__).resolve().parents[2] / "firmware" / "terminal" / "update" \
    / "release_keys.py"


def trusted_release_keys() -> list[bytes]:
    """The keys the firmware trusts (firmware/terminal/update/release_keys.py) plus those in
    FLEET_RELEASE_KEYS (comma-separated hex of 65-byte uncompressed P-256 points)."""
    keys: list[str] = []
    try:
        tree = ast.parse(FIRMWARE_KEYS.read_text())
        for node in tree.body:
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "KEYS":
                keys += list(ast.literal_eval(node.value))
    except (OSError, ValueError, SyntaxError):
        pass
    keys += [k.strip() for k in os.environ.get("FLEET_RELEASE_KEYS", "").split(",") if k.strip()]
    out = []
    for text in keys:
        try:
            out.append(bytes.fromhex(text))
        except ValueError:
            continue
    return out


class SqlUpdateStore(ReleaseStore, CampaignStore):
    def __init__(self, engine: Engine):
        self.engine = engine

    # ---- releases and blobs ------------------------------------------------------------------
    def has_blob(self, sha: str) -> bool:
        with self.engine.connect() as conn:
            return conn.scalar(select(update_blobs.c.sha256).where(
                update_blobs.c.sha256 == sha)) is not None

    def get_blob(self, sha: str) -> bytes | None:
        with self.engine.connect() as conn:
            return conn.scalar(select(update_blobs.c.data).where(update_blobs.c.sha256 == sha))

    def add_release(self, doc, manifest, signature, blobs, now) -> None:
        with self.engine.begin() as conn:
            held = set(conn.scalars(select(update_blobs.c.sha256).where(
                update_blobs.c.sha256.in_(list(blobs))))) if blobs else set()
            for sha, data in blobs.items():
                if sha not in held:
                    conn.execute(insert(update_blobs).values(sha256=sha, size=len(data),
                                                             data=data, created_at=now))
            conn.execute(insert(update_releases).values(
                version=doc["version"], manifest=manifest, manifest_sha=rel.sha256_hex(manifest),
                signature=signature, models=",".join(doc["models"]), protocol=doc["protocol"],
                files=len(doc["files"]), total_bytes=sum(f["size"] for f in doc["files"]),
                created_at=now))

    def set_rollback(self, version: str, signature: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(update_releases).where(update_releases.c.version == version)
                         .values(rollback_sig=signature))

    def get_release(self, version: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(update_releases).where(
                update_releases.c.version == version)).mappings().first()
        return dict(row) if row else None

    def latest_version(self) -> str | None:
        versions = [r["version"] for r in self.list_releases()]
        return max(versions, key=rel.parse_version) if versions else None

    def list_releases(self) -> list[dict]:
        cols = [c for c in update_releases.c if c.name != "manifest"]
        with self.engine.connect() as conn:
            rows = conn.execute(select(*cols)).mappings().all()
        return sorted((dict(r) for r in rows), key=lambda r: rel.parse_version(r["version"]))

    # ---- campaigns -----------------------------------------------------------------------------
    def add_campaign(self, campaign: dict, device_ids: list[str]) -> None:
        row = dict(campaign, target=json.dumps(campaign["target"]),
                   rules=json.dumps(campaign["rules"]))
        with self.engine.begin() as conn:
            conn.execute(insert(update_campaigns).values(**row))
            if device_ids:
                conn.execute(insert(update_campaign_devices), [
                    {"campaign_id": campaign["campaign_id"], "device_id": d, "state": PENDING,
                     "attempts": 0} for d in device_ids])

    @staticmethod
    def _campaign(row) -> dict:
        out = dict(row)
        out["target"], out["rules"] = json.loads(out["target"]), json.loads(out["rules"])
        return out

    def get_campaign(self, campaign_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(update_campaigns).where(
                update_campaigns.c.campaign_id == campaign_id)).mappings().first()
        return self._campaign(row) if row else None

    def list_campaigns(self, states=None) -> list[dict]:
        query = select(update_campaigns).order_by(update_campaigns.c.created_at)
        if states:
            query = query.where(update_campaigns.c.state.in_(states))
        with self.engine.connect() as conn:
            return [self._campaign(r) for r in conn.execute(query).mappings().all()]

    def set_campaign(self, campaign_id: str, **fields) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(update_campaigns).where(
                update_campaigns.c.campaign_id == campaign_id).values(**fields))

    def devices(self, campaign_id, states=None, limit=None) -> list[dict]:
        t = update_campaign_devices
        query = select(t).where(t.c.campaign_id == campaign_id).order_by(t.c.device_id)
        if states:
            query = query.where(t.c.state.in_(states))
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings().all()]

    def device(self, campaign_id: str, device_id: str) -> dict | None:
        t = update_campaign_devices
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(and_(
                t.c.campaign_id == campaign_id, t.c.device_id == device_id))).mappings().first()
        return dict(row) if row else None

    def set_device(self, campaign_id: str, device_id: str, **fields) -> None:
        t = update_campaign_devices
        with self.engine.begin() as conn:
            conn.execute(update(t).where(and_(t.c.campaign_id == campaign_id,
                                              t.c.device_id == device_id)).values(**fields))

    def counts(self, campaign_id: str) -> dict[str, int]:
        t = update_campaign_devices
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.c.state, func.count()).where(
                t.c.campaign_id == campaign_id).group_by(t.c.state)).all()
        return {state: n for state, n in rows}

    def offered_since(self, campaign_id: str, since: datetime) -> int:
        t = update_campaign_devices
        with self.engine.connect() as conn:
            return conn.scalar(select(func.count()).where(and_(
                t.c.campaign_id == campaign_id, t.c.offered_at >= since))) or 0


class SqlDeviceDirectory(DeviceDirectory):
    """Devices from the registry's table; online from the status tracker (last will + status)."""

    def __init__(self, engine: Engine, online):
        self.engine, self._online = engine, online

    @staticmethod
    def _device(row) -> FleetDevice:
        return FleetDevice(row.device_id, row.model, row.partner_id, row.firmware_version,
                           row.key_version or 1)

    def select(self, target: Target) -> list[FleetDevice]:
        d = orm.devices
        query = select(d).where(d.c.state != RETIRED).order_by(d.c.device_id)
        if target.partner:
            query = query.where(d.c.partner_id == target.partner)
        elif target.model:
            models = {target.model, target.model.replace("-", "_"), target.model.replace("_", "-")}
            query = query.where(d.c.model.in_(models))
        elif target.firmware:
            query = query.where(d.c.firmware_version == target.firmware)
        elif target.devices:
            query = query.where(d.c.device_id.in_(target.devices))
        with self.engine.connect() as conn:
            return [self._device(r) for r in conn.execute(query).all()]

    def get(self, device_id: str) -> FleetDevice | None:
        d = orm.devices
        with self.engine.connect() as conn:
            row = conn.execute(select(d).where(d.c.device_id == device_id)).first()
        return self._device(row) if row else None

    def online(self, device_id: str) -> bool:
        return bool(self._online(device_id))
