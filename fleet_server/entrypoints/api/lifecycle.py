"""Terminal life cycle over the API (docs/device-lifecycle.md): the operator allocates terminals
to a partner in bulk, re-keys and retires them, rotates the BDK; a partner admin claims a
terminal allocated to it with the claim code printed on its label.

Refusals are {"detail": {"code": ..., "message": ...}} with a stable code:
409 already_allocated, already_claimed, not_allocated, allocated_to_other_partner,
    no_signed_agreement, partner_cannot_pay, device_retired; 403 claim_code_wrong;
404 device_unknown, partner_unknown; 422 claim_code_malformed; 429 claim_attempts_exceeded.
"""

from typing import Annotated

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field, StringConstraints

from fleet_server.domain.devices import LifecycleRefused
from fleet_server.entrypoints.api.deps import (
    PARTNER_ADMIN,
    FleetDep,
    OperatorDep,
    PartnerId,
    Principal,
    StrictModel,
    id_path,
    require,
    utcnow,
)
from fleet_server.entrypoints.api.devices import DeviceOut
from fleet_server.service_layer import device_lifecycle, rekey
from fleet_server.service_layer.device_lifecycle import ClaimRefused

router = APIRouter(tags=["device life cycle"])

DeviceId = Annotated[str, StringConstraints(min_length=11, max_length=11,
                                            pattern=r"^CT[0-9A-Z]{9}$")]
DevicePath = Annotated[str, id_path(24)]
_STATUS = {"device_unknown": 404, "partner_unknown": 404, "no_devices": 422,
           "too_many_devices": 422}


def refused(err: LifecycleRefused) -> HTTPException:
    code = getattr(err, "http_status", None) or _STATUS.get(err.code, status.HTTP_409_CONFLICT)
    detail = {"code": err.code, "message": err.message}
    if err.device_id:
        detail["device_id"] = err.device_id
    return HTTPException(code, detail)


class Allocation(StrictModel):
    partner_id: PartnerId
    device_ids: list[DeviceId] = Field(min_length=1, max_length=device_lifecycle.MAX_BULK)


class Claim(StrictModel):
    device_id: DeviceId
    claim_code: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class RekeyOut(BaseModel):
    device_id: str
    current_key_id: str
    pending_key_id: str
    sent: bool  # False: no broker connection now; it goes out at the terminal's next connect


class BdkRotation(StrictModel):
    bdk_id: Annotated[str, StringConstraints(pattern=r"^[0-9A-Fa-f]{8}$")]


@router.post("/devices/allocate", response_model=list[DeviceOut])
def allocate(fleet: FleetDep, _: OperatorDep, body: Allocation):
    try:
        devices = device_lifecycle.allocate_devices(fleet.uow(), body.partner_id,
                                                    body.device_ids, utcnow())
    except LifecycleRefused as err:
        raise refused(err) from err
    return [DeviceOut.of(d) for d in devices]


@router.post("/devices/claim", response_model=DeviceOut)
def claim(fleet: FleetDep, who: Annotated[Principal, require(PARTNER_ADMIN)], body: Claim):
    rights = device_lifecycle.agreement_refusal(fleet.ledger)
    try:
        device = device_lifecycle.claim_device(fleet.uow(), fleet.keys, who.partner_id,
                                               body.device_id, body.claim_code, utcnow(),
                                               rights)
    except ClaimRefused as err:
        raise refused(err) from err
    # Retained: a terminal online now gets its configuration at once, one offline at connect.
    if fleet.dispatcher.config is not None:
        fleet.publish(fleet.dispatcher.config.messages_for(device.device_id))
    return DeviceOut.of(device)


@router.post("/devices/{device_id}/rekey", response_model=RekeyOut)
def rekey_device(fleet: FleetDep, _: OperatorDep, device_id: DevicePath):
    try:
        device, command = rekey.start_rekey(fleet.uow(), fleet.keys, device_id, utcnow())
    except LookupError as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from err
    except rekey.RekeyError as err:
        raise HTTPException(status.HTTP_409_CONFLICT, {"code": "device_retired",
                                                       "message": str(err)}) from err
    sent = fleet.publish([command])
    return RekeyOut(device_id=device.device_id, current_key_id=device.initial_key_id,
                    pending_key_id=device.pending_key_id, sent=sent)


@router.post("/keys/bdk-rotations", response_model=BdkRotation,
             status_code=status.HTTP_201_CREATED)
def rotate_bdk(fleet: FleetDep, _: OperatorDep, body: BdkRotation):
    try:
        bdk_id = rekey.rotate_bdk(fleet.uow(), fleet.keys, body.bdk_id, utcnow())
    except ValueError as err:
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from err
    return BdkRotation(bdk_id=bdk_id)
