"""Wiring of the device life cycle (docs/device-lifecycle.md), called from bootstrap():

- fleet.extras["broker_access"]: the BrokerAccess that revokes a retired device at the broker:
  adapters.broker_security.BrokerSecurity on FLEET_BROKER_SECURITY_DIR (the folder `fleet
  broker-config` wrote), with the fleet CA of FLEET_PKI_DIR when set (its CRL); without
  FLEET_BROKER_SECURITY_DIR, NoBrokerAccessControl (dev broker: the server alone refuses);
- the re-key grace period and the automatic re-key of a terminal whose DUKPT counter nears
  exhaustion (money_requests.RequestContext), and the switch to the new keys when the
  terminal's answer to the re-key is MACed with its new command key (dispatcher.rekeys).
"""

import logging
from datetime import timedelta

from fleet_server.service_layer.device_lifecycle import BrokerAccess, NoBrokerAccessControl
from fleet_server.service_layer.rekey import confirmed_by_result, rekey_when_needed

log = logging.getLogger("fleet.lifecycle")


def build_broker_access(settings) -> BrokerAccess:
    directory = getattr(settings, "broker_security_dir", None)
    if not directory:
        return NoBrokerAccessControl()
    from fleet_server.adapters.broker_security import BrokerSecurity

    ca = None
    pki_dir = getattr(settings, "pki_dir", None)
    if pki_dir:
        from fleet_server.adapters.pki import CertificateAuthority

        ca = CertificateAuthority(pki_dir)
    return BrokerSecurity(directory, ca)


class _EmbeddedBrokerRevocation(BrokerAccess):
    """The embedded broker's auth plugin denies the ids in its security.revoked set: at the
    next connection, and every publish or subscribe of a session already open."""

    def __init__(self, security):
        self.security = security

    def revoke(self, device_id: str) -> None:
        self.security.revoked.add(device_id)

    def reinstate(self, device_id: str) -> None:
        self.security.revoked.discard(device_id)  # only resumed devices: never a retired one


class _AllOf(BrokerAccess):
    def __init__(self, parts):
        self.parts = parts

    def revoke(self, device_id: str) -> None:
        for part in self.parts:
            part.revoke(device_id)

    def suspend(self, device_id: str) -> None:
        for part in self.parts:
            part.suspend(device_id)

    def reinstate(self, device_id: str) -> None:
        for part in self.parts:
            part.reinstate(device_id)


def broker_access(fleet) -> BrokerAccess:
    """The configured broker rules, plus the embedded broker's when it runs with security."""
    configured = fleet.extras.get("broker_access") or NoBrokerAccessControl()
    security = getattr(fleet.broker, "security", None)
    if security is None:
        return configured
    embedded = _EmbeddedBrokerRevocation(security)
    if isinstance(configured, NoBrokerAccessControl):
        return embedded
    return _AllOf([configured, embedded])


def publish_now(fleet, messages) -> bool:
    """Publish through the server's broker connection; False when there is none (the CLI):
    retained configuration and pending re-keys are then sent at the device's next connect."""
    if fleet.bus is None:
        return False
    for topic, payload, qos, retain in messages:
        fleet.bus.publish(topic, payload, qos, retain)
    return True


def wire_lifecycle(fleet, requests, clock) -> None:
    fleet.extras["broker_access"] = build_broker_access(fleet.settings)
    requests.rekey_grace_s = getattr(fleet.settings, "rekey_grace_s", requests.rekey_grace_s)

    def publish(command) -> None:
        if not publish_now(fleet, [command]):
            log.info("re-key command for later: the terminal gets it at its next connect")

    requests.on_rekey_needed = rekey_when_needed(fleet.uow, fleet.keys, clock, publish)
    fleet.dispatcher.rekeys = confirmed_by_result(
        fleet.uow, fleet.keys, clock, lambda: timedelta(seconds=requests.rekey_grace_s))
