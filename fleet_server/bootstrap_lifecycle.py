"""Wiring of the device life cycle (docs/device-lifecycle.md), used by bootstrap():

- fleet.broker_access: the BrokerAccess that revokes a retired device at the broker:
  adapters.broker_security.BrokerSecurity on FLEET_BROKER_SECURITY_DIR (the folder `fleet
  broker-config` wrote), with the fleet CA of FLEET_PKI_DIR when set (its CRL); without
  FLEET_BROKER_SECURITY_DIR, NoBrokerAccessControl (dev broker: the server alone refuses);
  plus the embedded broker's own refusals once connect_broker() started it with security;
- the automatic re-key of a terminal whose DUKPT counter nears exhaustion
  (money_requests.RequestContext.on_rekey_needed), and the switch to the new keys when the
  terminal's answer to the re-key is MACed with its new command key (Dispatcher.rekeys).
"""

import logging

from fleet_server.service_layer.device_lifecycle import BrokerAccess, NoBrokerAccessControl
from fleet_server.service_layer.messaging import Outgoing, Publish

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


class ServerBrokerAccess(BrokerAccess):
    """The configured broker rules, plus the embedded broker's when it runs with security
    (connect_broker() tells it: embedded_started)."""

    def __init__(self, configured: BrokerAccess):
        self.configured = configured
        self.embedded: BrokerAccess | None = None

    def embedded_started(self, security) -> None:
        self.embedded = _EmbeddedBrokerRevocation(security)

    def _parts(self) -> list[BrokerAccess]:
        if self.embedded is None:
            return [self.configured]
        if isinstance(self.configured, NoBrokerAccessControl):
            return [self.embedded]
        return [self.configured, self.embedded]

    def revoke(self, device_id: str) -> None:
        for part in self._parts():
            part.revoke(device_id)

    def suspend(self, device_id: str) -> None:
        for part in self._parts():
            part.suspend(device_id)

    def reinstate(self, device_id: str) -> None:
        for part in self._parts():
            part.reinstate(device_id)


def rekey_publisher(publish: Publish):
    """Sends a re-key command now, or leaves it for the terminal's next connect."""

    def send(command: Outgoing) -> None:
        if not publish([command]):
            log.info("re-key command for later: the terminal gets it at its next connect")

    return send
