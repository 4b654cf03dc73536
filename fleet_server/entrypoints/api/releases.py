"""Firmware releases and campaigns (operator): publish a signed release, roll it out, follow,
pause, resume or cancel a campaign. Support can read."""

import base64
import binascii
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field, StringConstraints

from fleet_server.entrypoints.api.deps import (
    OPERATOR,
    SUPPORT,
    FleetDep,
    OperatorDep,
    Principal,
    StrictModel,
    id_path,
    require,
)
from fleet_server.service_layer import updates_releases as rel
from fleet_server.service_layer.campaigns_ports import CampaignError

router = APIRouter(tags=["updates"])
ReaderDep = Annotated[Principal, require(OPERATOR, SUPPORT)]
Hex64 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Version = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,6}(\.[0-9]{1,6}){0,3}$",
                                           max_length=24)]
CampaignPath = Annotated[str, id_path(32)]


class ReleaseIn(StrictModel):
    manifest_b64: str = Field(..., max_length=30_000, description="the manifest bytes, base64")
    signature: str | None = Field(None, pattern=r"^[0-9a-f]{128}$",
                                  description="ECDSA P-256 r || s, hex")
    files: dict[Hex64, str] = Field(default_factory=dict, max_length=200,
                                    description="sha256 -> content base64, for new files")
    allow_downgrade: bool = False


class ReleaseOut(BaseModel):
    version: str
    manifest_sha: str
    models: str
    protocol: int
    files: int
    total_bytes: int
    created_at: datetime
    rollback_sig: str | None = None


class RollbackIn(StrictModel):
    signature: str = Field(..., pattern=r"^[0-9a-f]{128}$",
                           description="the release key's signature (r || s, hex) of the "
                                       "rollback statement naming the release")


class CampaignIn(StrictModel):
    release: Version
    campaign_id: str | None = Field(None, pattern=r"^[0-9A-Za-z._-]{1,32}$")
    all: bool = False
    partner: str | None = Field(None, max_length=40)
    model: str | None = Field(None, max_length=40)
    firmware: str | None = Field(None, max_length=24)
    devices: list[Annotated[str, StringConstraints(max_length=24)]] = Field(
        default_factory=list, max_length=100_000)
    percent: int = Field(100, ge=1, le=100)
    rules: dict = Field(default_factory=dict, description="see Rules in docs/updates.md")


class CampaignOut(BaseModel):
    campaign_id: str
    release_version: str
    state: str
    reason: str | None
    target: dict
    rules: dict
    counts: dict[str, int]
    total: int
    finished: int
    succeeded: int
    failures: int
    progress_pct: int
    created_at: datetime
    finished_at: datetime | None


def _service(fleet):
    return fleet.updates


@router.get("/releases", response_model=list[ReleaseOut])
def list_releases(fleet: FleetDep, _who: ReaderDep):
    return _service(fleet).releases.list_releases()


@router.post("/releases", response_model=ReleaseOut, status_code=status.HTTP_201_CREATED)
def publish_release(body: ReleaseIn, fleet: FleetDep, _who: OperatorDep):
    try:
        manifest = base64.b64decode(body.manifest_b64, validate=True)
        files = {sha: base64.b64decode(data, validate=True) for sha, data in body.files.items()}
    except (binascii.Error, ValueError) as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "not base64") from err
    service = _service(fleet)
    try:
        doc = service.publish(rel.ReleaseCandidate(manifest, body.signature, files),
                              allow_downgrade=body.allow_downgrade)
    except rel.ReleaseError as err:
        code = status.HTTP_409_CONFLICT if err.code in ("exists", "downgrade") else \
            status.HTTP_422_UNPROCESSABLE_CONTENT
        raise HTTPException(code, str(err)) from err
    return service.releases.get_release(doc["version"])


@router.post("/releases/{version}/rollback", response_model=ReleaseOut)
def allow_rollback(version: Version, body: RollbackIn, fleet: FleetDep, _who: OperatorDep):
    """Campaigns may install this release over newer ones (allow_downgrade): the release key
    says so in a rollback statement signed off the server (fleet release rollback-sign)."""
    try:
        return _service(fleet).allow_rollback(version, body.signature)
    except CampaignError as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from err
    except rel.ReleaseError as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(err)) from err


@router.get("/campaigns", response_model=list[CampaignOut])
def list_campaigns(fleet: FleetDep, _who: ReaderDep):
    service = _service(fleet)
    return [service.show(c["campaign_id"]) for c in service.campaigns.list_campaigns()]


@router.post("/campaigns", response_model=CampaignOut, status_code=status.HTTP_201_CREATED)
def create_campaign(body: CampaignIn, fleet: FleetDep, _who: OperatorDep):
    target = body.model_dump(include={"all", "partner", "model", "firmware", "devices",
                                      "percent"})
    try:
        return _service(fleet).start(body.release, target, body.rules, body.campaign_id)
    except CampaignError as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(err)) from err


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut)
def show_campaign(campaign_id: CampaignPath, fleet: FleetDep, _who: ReaderDep):
    try:
        return _service(fleet).show(campaign_id)
    except LookupError as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from err


@router.get("/campaigns/{campaign_id}/devices")
def campaign_devices(campaign_id: CampaignPath, fleet: FleetDep, _who: ReaderDep,
                     state: str | None = None):
    service = _service(fleet)
    if service.campaigns.get_campaign(campaign_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no campaign {campaign_id}")
    return service.campaigns.devices(campaign_id, (state,) if state else None)


@router.post("/campaigns/{campaign_id}/{action}", response_model=CampaignOut)
def change_campaign(campaign_id: CampaignPath, action: Literal["pause", "resume", "cancel"],
                    fleet: FleetDep, _who: OperatorDep):
    try:
        return getattr(_service(fleet), action)(campaign_id)
    except LookupError as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from err
    except CampaignError as err:
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from err
