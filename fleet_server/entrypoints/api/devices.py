"""Terminals: find them (every role, partners their own), register, allocate and move them
through their life cycle (operator)."""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, HTTPException, Query, status
from pydantic import BaseModel, Field, StringConstraints, field_validator

from fleet_server.domain.devices import STATES, Device, LifecycleRefused
from fleet_server.entrypoints.api.deps import (
    ALL_ROLES,
    FleetDep,
    Limit,
    Offset,
    OperatorDep,
    Page,
    PartnerId,
    Principal,
    StrictModel,
    check_own,
    id_path,
    not_found,
    page_of,
    partner_scope,
    require,
    utcnow,
)
from fleet_server.service_layer import device_lifecycle, registry
from protocol import tokens

router = APIRouter(prefix="/devices", tags=["devices"])

DevicePath = Annotated[str, id_path(24)]
Action = Literal["activate", "suspend", "resume", "retire", "unassign"]  # device_lifecycle.ACTIONS


class DeviceOut(BaseModel):
    device_id: str
    model: str
    state: str
    partner_id: str | None
    firmware_version: str | None
    key_version: int
    last_seen_at: datetime | None
    created_at: datetime | None
    allocated_at: datetime | None = None
    claimed_at: datetime | None = None
    retired_at: datetime | None = None

    @classmethod
    def of(cls, device: Device) -> "DeviceOut":
        return cls(**{name: getattr(device, name) for name in cls.model_fields})


class DeviceRegister(StrictModel):
    model: Annotated[str, StringConstraints(min_length=1, max_length=40,
                                            pattern=r"^[A-Za-z0-9._-]+$")] = "esp32-gm65"
    device_id: str | None = Field(None, description="CT + 8 characters + check; "
                                                    "default: a new random id")

    @field_validator("device_id")
    @classmethod
    def _device_id(cls, value: str | None) -> str | None:
        if value is not None and not tokens.is_device_id(value):
            raise ValueError("not a device id (CT + 8 base32 characters + check character)")
        return value


class DeviceSecretsOut(BaseModel):
    """Shown once, for key injection: the terminal's own keys, never the BDK."""

    device_id: str
    initial_key_id: str
    initial_key_hex: str
    command_key_hex: str
    claim_code: str


class Assignment(StrictModel):
    partner_id: PartnerId


@router.get("", response_model=Page[DeviceOut])
def list_devices(fleet: FleetDep, who: Annotated[Principal, require(*ALL_ROLES)],
                 state: Annotated[Literal[STATES] | None, Query()] = None,  # type: ignore[valid-type]
                 partner_id: Annotated[PartnerId | None, Query()] = None,
                 limit: Annotated[Limit, Query()] = 50,
                 offset: Annotated[Offset, Query()] = 0):
    partner_id = partner_scope(who, partner_id)
    with fleet.uow() as uow:
        devices = uow.devices.list(state=state, partner_id=partner_id, limit=limit + 1,
                                   offset=offset)
        return page_of([DeviceOut.of(d) for d in devices], limit, offset)


@router.get("/{device_id}", response_model=DeviceOut)
def get_device(fleet: FleetDep, who: Annotated[Principal, require(*ALL_ROLES)],
               device_id: DevicePath):
    with fleet.uow() as uow:
        device = uow.devices.get(device_id)
        if device is None:
            raise not_found("device")
        check_own(who, device.partner_id, "device")
        return DeviceOut.of(device)


@router.post("", response_model=DeviceSecretsOut, status_code=status.HTTP_201_CREATED)
def register_device(fleet: FleetDep, _: OperatorDep,
                    body: Annotated[DeviceRegister | None, Body()] = None):
    body = body or DeviceRegister()
    try:
        secrets = registry.register_device(fleet.uow(), fleet.keys, body.model, utcnow(),
                                           device_id=body.device_id)
    except ValueError as err:  # the id is valid (checked above), so it is taken
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from err
    return DeviceSecretsOut(**secrets.__dict__)


@router.post("/{device_id}/assign", response_model=DeviceOut)
def assign_device(fleet: FleetDep, _: OperatorDep, device_id: DevicePath, body: Assignment):
    # registry.NotFound (404) and DeviceStateError (409) are mapped in api/__init__.py.
    return DeviceOut.of(registry.assign_device(fleet.uow(), device_id, body.partner_id))


@router.post("/{device_id}/{action}", response_model=DeviceOut)
def change_state(fleet: FleetDep, _: OperatorDep, device_id: DevicePath, action: Action):
    """Suspension and retirement reach the broker at once; a retirement also clears the
    terminal's retained messages. registry.NotFound (404) and DeviceStateError (409) are
    mapped in api/__init__.py, a retirement's refusal by lifecycle.refused."""
    from fleet_server.entrypoints.api.lifecycle import refused

    try:
        device, clears = device_lifecycle.change_state(fleet.uow(), device_id, action, utcnow(),
                                                       fleet.broker_access)
    except LifecycleRefused as err:
        raise refused(err) from err
    fleet.publish(clears)
    return DeviceOut.of(device)
