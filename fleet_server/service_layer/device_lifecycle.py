"""A terminal's life after provisioning: allocation to a partner, claim by the partner,
retirement (docs/device-lifecycle.md).

operator allocates (bulk)  ->  partner admin claims with the printed claim code  ->  active
any state                  ->  retired: refused by the server, the ledger path and the broker

Nothing here speaks MQTT or HTTP: messages to publish are returned as Outgoing tuples, and the
broker's access control is the BrokerAccess port.
"""

import abc
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from fleet_server.domain.devices import Device, LifecycleRefused
from fleet_server.service_layer.keys import KeyStore
from fleet_server.service_layer.messaging import Outgoing
from fleet_server.service_layer.registry import NotFound
from fleet_server.service_layer.unit_of_work import UnitOfWork
from protocol import tokens, topics
from protocol.errors import ProtocolError

log = logging.getLogger("fleet.lifecycle")


# Claim codes have 40 bits: with at most MAX_CLAIM_FAILURES wrong guesses per partner per
# CLAIM_WINDOW, guessing one terminal's code takes on the order of 10^10 hours.
MAX_CLAIM_FAILURES = 10
CLAIM_WINDOW = timedelta(hours=1)
MAX_BULK = 1000  # devices per allocation call

# Who may activate terminals: a refusal code, or None. The API passes one that asks the
# ledger for the partner's signed agreements (agreement_refusal below).
PaymentRights = Callable[[str], str | None]


class BrokerAccess(abc.ABC):
    """The broker's access control for devices (implemented by the broker-security adapter:
    certificate revocation list, ACL or password file, embedded broker's auth hook)."""

    @abc.abstractmethod
    def revoke(self, device_id: str) -> None:
        """From now on the broker refuses this device's connections and publications."""

    def suspend(self, device_id: str) -> None:
        """Refuse the device for now (it may be resumed): its open session is silenced or ended
        at once. By default the same as revoke() minus what cannot be undone."""
        self.revoke(device_id)

    def reinstate(self, device_id: str) -> None:
        """Undo suspend(): the device may connect again. Nothing to undo by default."""
        log.info("terminal %s resumed: nothing to undo at the broker", device_id)


class NoBrokerAccessControl(BrokerAccess):
    """The default when no broker-security adapter is wired in (the dev broker accepts any
    client): revocation is then only the server's and the ledger path's refusal, and a
    warning says so. fleet_server.adapters.broker_security provides the real one."""

    def revoke(self, device_id: str) -> None:
        log.warning("no broker access control configured: %s is refused by the server only",
                    device_id)

    def reinstate(self, device_id: str) -> None:
        pass  # nothing was done at the broker


class ClaimRefused(LifecycleRefused):
    """A claim refusal; `http_status` says how an API should answer it."""

    def __init__(self, code: str, message: str, http_status: int, device_id=None):
        super().__init__(code, message, device_id)
        self.http_status = http_status


def _get(uow: UnitOfWork, device_id: str) -> Device:
    device = uow.devices.get(device_id, lock=True)
    if device is None:
        raise LifecycleRefused("device_unknown", f"no terminal {device_id}", device_id)
    return device


# ---- allocation -----------------------------------------------------------------------------

def allocate_devices(uow: UnitOfWork, partner_id: str, device_ids: Iterable[str],
                     now: datetime) -> list[Device]:
    """Allocate provisioned terminals to a partner, all or none: one refused terminal (unknown,
    retired, already allocated) refuses the whole batch, naming every problem."""
    wanted = list(dict.fromkeys(device_ids))  # keep order, drop repeats
    if not wanted:
        raise LifecycleRefused("no_devices", "no terminal to allocate")
    if len(wanted) > MAX_BULK:
        raise LifecycleRefused("too_many_devices", f"at most {MAX_BULK} terminals per call")
    with uow:
        if uow.partners.get(partner_id) is None:
            raise LifecycleRefused("partner_unknown", f"no partner {partner_id}")
        devices, problems = [], []
        for device_id in wanted:  # check every one before changing any
            try:
                device = _get(uow, device_id)
                device.check_allocation(partner_id)
                devices.append(device)
            except LifecycleRefused as refusal:
                problems.append(refusal)
        if problems:
            first = problems[0]
            detail = "; ".join(p.message for p in problems[:20])
            more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
            raise LifecycleRefused(first.code, f"nothing allocated: {detail}{more}",
                                   first.device_id)
        for device in devices:
            device.allocate(partner_id, now)
        uow.commit()
        return devices


def unallocated(uow: UnitOfWork, count: int, model: str | None = None) -> list[str]:
    """Ids of `count` provisioned, unallocated terminals (the CLI's "--take N" form), oldest
    first by id order. Fewer when fewer are in stock."""
    if not 0 < count <= MAX_BULK:
        raise LifecycleRefused("too_many_devices", f"take 1 to {MAX_BULK} terminals")
    with uow:
        found = [d.device_id for d in uow.devices.list(state="provisioned", limit=MAX_BULK * 10)
                 if model is None or d.model == model]
    return found[:count]


# ---- claim ----------------------------------------------------------------------------------

def agreement_refusal(ledger) -> PaymentRights:
    """Payment rights from the ledger's agreements: at least one signed agreement. A ledger
    that cannot list agreements (an external one) leaves the decision to each sale."""

    def refusal(partner_id: str) -> str | None:
        agreements = getattr(ledger, "agreements", None)
        if agreements is None:
            return None
        if not any(row.get("status") == "signed" for row in agreements(partner_id)):
            return "no_signed_agreement"
        return None

    return refusal


_RIGHTS_TEXT = {
    "partner_cannot_pay": "this partner cannot take payments (deals only, or suspended)",
    "no_signed_agreement": "this partner has no signed agreement: a terminal can only be "
                           "activated once an agreement is signed",
}


def claim_device(uow: UnitOfWork, keys: KeyStore, partner_id: str, device_id: str,
                 raw_code: str, now: datetime, payment_rights: PaymentRights) -> Device:
    """A partner admin activates a terminal allocated to it, proving possession with the
    claim code printed on its label. Refusals raise ClaimRefused (code, message, status)."""
    try:
        code = tokens.parse_claim_code(raw_code)
    except ProtocolError as err:
        raise ClaimRefused("claim_code_malformed", "a claim code is 9 characters (printed "
                           "XXXX-XXXXX) with a check character; check for a typo", 422) from err
    # Asked before the unit of work opens: the ledger has its own transactions (and on SQLite
    # a second writer would wait for ours).
    rights_refusal = payment_rights(partner_id)
    with uow:
        # The partner's row is held while its failures are counted and one is added, so
        # parallel guesses cannot all slip under the bound.
        partner = uow.partners.get(partner_id, lock=True)
        if partner is None:
            raise ClaimRefused("partner_unknown", f"no partner {partner_id}", 404)
        if uow.claim_failures.count_since(partner_id, now - CLAIM_WINDOW) >= MAX_CLAIM_FAILURES:
            raise ClaimRefused("claim_attempts_exceeded", f"too many wrong claim codes; try "
                               f"again in {int(CLAIM_WINDOW.total_seconds() // 60)} minutes",
                               429, device_id)
        device = uow.devices.get(device_id, lock=True)
        if device is not None and device.state == "retired":
            raise ClaimRefused("device_retired", f"terminal {device_id} is retired", 409,
                               device_id)
        if device is None or device.claim_code_hash is None or not keys.claim_code_matches(
                device_id, code, device.claim_code_hash):
            _failed(uow, partner_id, device_id, "claim_code_wrong", now)
            raise ClaimRefused("claim_code_wrong", "this claim code does not match the "
                               "terminal (check the device id and the code on its label)",
                               403, device_id)
        refusal = partner.refusal() or rights_refusal
        if refusal:
            raise ClaimRefused(refusal, _RIGHTS_TEXT.get(refusal, refusal), 409, device_id)
        try:
            device.claim(partner_id, now)
        except LifecycleRefused as err:
            raise ClaimRefused(err.code, err.message, 409, device_id) from err
        uow.commit()
        log.info("terminal %s claimed by %s", device_id, partner_id)
        return device


def _failed(uow: UnitOfWork, partner_id: str, device_id: str, code: str, now: datetime):
    # Committed on its own: the failure counts even though the claim is refused.
    uow.claim_failures.add(partner_id, device_id, code, now)
    uow.commit()
    log.warning("wrong claim code from %s for %s", partner_id, device_id)


# ---- state changes --------------------------------------------------------------------------

ACTIONS = ("activate", "suspend", "resume", "retire", "unassign")


def change_state(uow: UnitOfWork, device_id: str, action: str, now: datetime | None = None,
                 broker: BrokerAccess | None = None) -> tuple[Device, list[Outgoing]]:
    """The one way every front end (REST, console, CLI) changes a terminal's state.

    Suspending and retiring reach the broker at once, resuming lets the device in again
    (`broker` None: none is configured, which is logged). Returns the device and the messages
    the caller publishes (a retirement's retained clears; nothing otherwise). Refusals:
    registry.NotFound for an unknown device (LifecycleRefused device_unknown when retiring),
    DeviceStateError for a move its state does not allow, ValueError for an unknown action."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action}")
    broker = broker or NoBrokerAccessControl()
    if action == "retire":
        return retire_device(uow, device_id, now, broker)
    with uow:
        device = uow.devices.get(device_id)
        if device is None:
            raise NotFound(f"no device {device_id}")
        was = device.state
        getattr(device, action)()
        uow.commit()
    if action == "suspend":
        broker.suspend(device_id)
    elif was == "suspended" and device.state == "active":
        broker.reinstate(device_id)
    return device, []


# ---- retirement -----------------------------------------------------------------------------

def retained_topics(device_id: str) -> list[str]:
    return [topics.ROOT + "/" + device_id + "/" + leaf
            for leaf, (_mtype, _dir, _qos, retain) in topics.LEAVES.items() if retain]


def clear_retained(device_id: str) -> list[Outgoing]:
    """Empty retained payloads: the broker forgets what it kept for this device."""
    return [(topic, b"", 1, True) for topic in retained_topics(device_id)]


def retire_device(uow: UnitOfWork, device_id: str, now: datetime | None,
                  broker: BrokerAccess) -> tuple[Device, list[Outgoing]]:
    """Retire for good: the server refuses its requests (device_retired) and they never reach
    the ledger, the broker refuses the device, its retained messages are cleared (the caller
    publishes the returned messages), its claim code and any pending re-key are void."""
    with uow:
        device = _get(uow, device_id)
        if device.state != "retired":
            device.retire(now)
            uow.commit()
    broker.revoke(device_id)
    log.info("terminal %s retired", device_id)
    return device, clear_retained(device_id)


# ---- certificates ---------------------------------------------------------------------------

def renew_certificate(uow: UnitOfWork, device_id: str, ca, new_key: bool = False):
    """A new certificate for a registered, not retired terminal from the fleet CA
    (fleet_server.adapters.pki.CertificateAuthority.renew: new serial and validity, the same key
    or a new pair). Returns the CA's DeviceCredentials; the caller writes them for the board."""
    with uow:
        device = _get(uow, device_id)
        if device.state == "retired":
            raise LifecycleRefused("device_retired", f"terminal {device_id} is retired",
                                   device_id)
    return ca.renew(device_id, new_key=new_key)
