"""Key rotation: re-keying one terminal, rotating the Base Derivation Key for new terminals
(docs/device-lifecycle.md).

Re-key: the server picks a new Initial Key ID under the current BDK, records it as the
terminal's pending key, and sends a "rekey" command (HMACed with the command key, with an id and
an expiry) carrying the new Initial Key wrapped by protocol.keywrap under keys derived from the
command key, together with the terminal's next command key. The terminal installs both
power-loss safe, answers with the new command key, and signs its next request with the new
Initial Key; the first of these proofs makes both current (confirm_by_command_key here, or
money_requests), and the old Initial Key stays accepted for a grace period, for
retransmissions only. Until then the command is sent again each time the
terminal comes online, so an offline terminal is re-keyed when it returns.
"""

import logging
import os
from collections.abc import Callable
from datetime import datetime, timedelta

from fleet_server.domain.devices import RETIRED, Device, DeviceStateError
from fleet_server.service_layer.keys import KeyStore
from fleet_server.service_layer.messaging import Outgoing
from fleet_server.service_layer.unit_of_work import UnitOfWork
from protocol import auth, keywrap, messages, topics
from protocol.errors import ProtocolError

log = logging.getLogger("fleet.rekey")

COMMAND_TTL = timedelta(hours=24)  # a fresh command is built at every reconnect anyway


class RekeyError(DeviceStateError):
    pass


def current_bdk_id(uow: UnitOfWork, keys: KeyStore) -> str:
    """The BDK new Initial Keys come from: the latest rotation, else the configured one."""
    return uow.bdk_rotations.current() or keys.current_bdk_id


def new_initial_key_id(uow: UnitOfWork, keys: KeyStore) -> str:
    bdk_id = current_bdk_id(uow, keys)
    return keys.initial_key_id(uow.devices.next_derivation_id(bdk_id), bdk_id)


def rekey_command(keys: KeyStore, device: Device, now: datetime,
                  nonce: bytes | None = None) -> Outgoing:
    """The MACed "rekey" command for the device's pending key (sent with QoS 1)."""
    kid = device.pending_key_id
    if kid is None:
        raise RekeyError(f"terminal {device.device_id} has no re-key in progress")
    command_key = keys.command_key(device.device_id, device.key_version)
    # The next command key travels with the Initial Key: whoever held the old one (the
    # reason for many a re-key) can no longer command the terminal once it switched.
    args = keywrap.wrap(command_key, device.device_id, kid, keys.initial_key(kid),
                        nonce or os.urandom(keywrap.NONCE_LEN),
                        keys.command_key(device.device_id, device.key_version + 1))
    ts = int(now.timestamp())
    # One id per sending: the terminal's dedup memory answers a repeat of the same id with
    # its first reply (even a refusal); installing the same key twice is harmless.
    cmd_id = f"rekey-{kid.lower()}-{ts % 100_000_000}"
    message = messages.build("command", {
        "dev": device.device_id, "ts": ts, "id": cmd_id, "name": "rekey", "args": args,
        "exp": ts + int(COMMAND_TTL.total_seconds())})
    payload = auth.seal(message, command_key)
    return topics.topic(device.device_id, "command"), payload, 1, False


def start_rekey(uow: UnitOfWork, keys: KeyStore, device_id: str, now: datetime
                ) -> tuple[Device, Outgoing]:
    """Give the terminal a new Initial Key (or send again the one already pending)."""
    with uow:
        device = uow.devices.get(device_id, lock=True)
        if device is None:
            raise LookupError(f"no terminal {device_id}")
        if device.state == RETIRED:
            raise RekeyError(f"terminal {device_id} is retired")
        if device.pending_key_id is None:
            device.start_rekey(new_initial_key_id(uow, keys), now)
        else:
            device.rekey_sent_at = now
        uow.commit()
        log.info("re-key of %s to key id %s", device_id, device.pending_key_id)
        return device, rekey_command(keys, device, now)


def confirm_by_command_key(uow: UnitOfWork, keys: KeyStore, device_id: str, message: dict,
                           now: datetime, grace: timedelta) -> bool:
    """A command_res MACed with the next command key while a re-key is pending: the terminal
    installed the re-key (its Initial Key and command key are written together), so the
    switch happens now, not at its next sale, and the commands, configuration and update
    offers that follow are MACed with the key it holds. True when it switched."""
    with uow:
        device = uow.devices.get(device_id, lock=True)
        if device is None or device.pending_key_id is None:
            return False
        try:
            auth.verify(message, keys.command_key(device_id, device.key_version + 1))
        except ProtocolError:
            return False
        device.switch_to_pending_key(now, grace)
        uow.commit()
    log.info("device %s switched to key id %s and command key %d (re-key confirmed)",
             device_id, device.initial_key_id, device.key_version)
    return True


def confirmed_by_result(uow_factory: Callable[[], UnitOfWork], keys: KeyStore,
                        clock: Callable[[], datetime], grace: Callable[[], timedelta]
                        ) -> Callable[[str, bytes], str | None]:
    """For the dispatcher: a command_res -> the device id when it confirmed a re-key."""

    def on_result(topic: str, payload: bytes) -> str | None:
        try:
            device_id, _ = topics.parse(topic)
            message = messages.parse(payload, "command_res")
            topics.check_sender(topic, message)
        except ProtocolError:
            return None
        if confirm_by_command_key(uow_factory(), keys, device_id, message, clock(), grace()):
            return device_id
        return None

    return on_result


def rekey_when_needed(uow_factory: Callable[[], UnitOfWork], keys: KeyStore,
                      clock: Callable[[], datetime], publish: Callable[[Outgoing], None]
                      ) -> Callable[[str], None]:
    """For money_requests.RequestContext.on_rekey_needed: a terminal whose DUKPT counter nears
    exhaustion gets a new key at once (and again at each reconnect until it uses it)."""

    def on_rekey_needed(device_id: str) -> None:
        _device, command = start_rekey(uow_factory(), keys, device_id, clock())
        publish(command)

    return on_rekey_needed


def rotate_bdk(uow: UnitOfWork, keys: KeyStore, new_bdk_id: str, now: datetime) -> str:
    """New terminals (and re-keys) get their Initial Key from `new_bdk_id` from now on. The old
    BDKs stay derivable from the master secret, so terminals keyed under them keep working;
    re-key them to move them over."""
    bdk_id = new_bdk_id.upper()
    if len(bdk_id) != 8 or any(c not in "0123456789ABCDEF" for c in bdk_id):
        raise ValueError("a BDK ID is 8 hex digits")
    with uow:
        used = set(uow.bdk_rotations.known()) | {keys.current_bdk_id}
        if bdk_id in used:
            raise ValueError(f"BDK ID {bdk_id} was used before: pick a new one")
        uow.bdk_rotations.add(bdk_id, now)
        uow.commit()
    log.info("new terminals now get their Initial Key from BDK %s", bdk_id)
    return bdk_id
