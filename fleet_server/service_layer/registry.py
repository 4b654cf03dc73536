"""Operator actions on terminals and partners (registration, allocation, life cycle)."""

import os
from dataclasses import dataclass
from datetime import datetime

from fleet_server.domain.devices import Device
from fleet_server.domain.partners import Partner
from fleet_server.service_layer.keys import KeyStore
from fleet_server.service_layer.rekey import new_initial_key_id
from fleet_server.service_layer.unit_of_work import UnitOfWork
from protocol import tokens


class NotFound(LookupError):
    pass


@dataclass(frozen=True)
class DeviceSecrets:
    """What key injection puts on a terminal: never the BDK, only its own keys."""

    device_id: str
    initial_key_id: str
    initial_key_hex: str
    command_key_hex: str
    claim_code: str  # printed on the label ("XXXX-XXXXX" via tokens.format_claim_code)


def register_device(uow: UnitOfWork, keys: KeyStore, model: str, now: datetime,
                    device_id: str | None = None) -> DeviceSecrets:
    with uow:
        if device_id is None:
            device_id = tokens.make_device_id(tokens.random_payload32(8, os.urandom))
            while uow.devices.get(device_id) is not None:
                device_id = tokens.make_device_id(tokens.random_payload32(8, os.urandom))
        elif not tokens.is_device_id(device_id):
            raise ValueError(f"{device_id!r} is not a device id (CT + 8 characters + check)")
        elif uow.devices.get(device_id) is not None:
            raise ValueError(f"device {device_id} is already registered")
        kid = new_initial_key_id(uow, keys)  # under the latest BDK rotation
        claim_code = tokens.make_claim_code(tokens.random_payload32(8, os.urandom))
        uow.devices.add(Device(device_id, model, kid, created_at=now,
                               claim_code_hash=keys.claim_code_hash(device_id, claim_code)))
        uow.commit()
    return DeviceSecrets(device_id, kid, keys.initial_key(kid).hex(),
                         keys.command_key(device_id, 1).hex(), claim_code)


def _device(uow: UnitOfWork, device_id: str) -> Device:
    device = uow.devices.get(device_id)
    if device is None:
        raise NotFound(f"no device {device_id}")
    return device


def assign_device(uow: UnitOfWork, device_id: str, partner_id: str) -> Device:
    with uow:
        if uow.partners.get(partner_id) is None:
            raise NotFound(f"no partner {partner_id}")
        device = _device(uow, device_id)
        device.assign(partner_id)
        uow.commit()
        return device


def change_state(uow: UnitOfWork, device_id: str, action: str,
                 now: datetime | None = None, broker=None) -> Device:
    """Setup code's shortcut (demo, simulator, tests) to device_lifecycle.change_state, which
    front ends call so they can publish a retirement's retained-message clears."""
    from fleet_server.service_layer import device_lifecycle

    return device_lifecycle.change_state(uow, device_id, action, now, broker)[0]


def add_partner(uow: UnitOfWork, partner: Partner) -> Partner:
    with uow:
        if uow.partners.get(partner.partner_id) is not None:
            raise ValueError(f"partner {partner.partner_id} exists")
        uow.partners.add(partner)
        uow.commit()
        return partner
