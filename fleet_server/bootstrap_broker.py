"""The embedded broker as `fleet serve` and `fleet demo` start it when no --broker is given.

By default it is not open: it listens on loopback (FLEET_EMBEDDED_MQTT_HOST), and only
registered terminals log in, each as its own device id with a password derived from its
command key (protocol.auth.broker_password: the firmware computes it, nothing more to
provision), plus the server with a password derived from the master secret. The topic rules
are those of Mosquitto's ACL (broker_security.device_allowed), and a device's client id is its
device id (embedded_identity). A retired or suspended terminal cannot log in.

FLEET_EMBEDDED_MQTT_OPEN=true restores an open broker (any client, any topic) for
experiments, with a warning; listening elsewhere than loopback without the rules is warned
about loudly, and even with them the passwords then cross the network in clear (no TLS here).
"""

import logging

from fleet_server.adapters.broker_security import SERVER_USER, hash_password
from fleet_server.adapters.embedded_broker import EmbeddedBroker, EmbeddedSecurity
from protocol import auth

log = logging.getLogger("fleet.broker")
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def start_embedded(fleet) -> tuple[str, str | None, str | None]:
    """Start it; returns (url, user, password) for the server's own connection."""
    s = fleet.settings
    host, open_ = s.embedded_mqtt_host, s.embedded_mqtt_open
    security, user, password = None, None, None
    if not open_:
        user, password = SERVER_USER, fleet.keys.broker_password(SERVER_USER)
        security = EmbeddedSecurity(hash_password(password),
                                    device_passwords=device_passwords(fleet))
    fleet.broker = EmbeddedBroker(host=host, port=s.embedded_mqtt_port, security=security)
    if open_ and host not in LOOPBACK:
        log.error("!" * 72)
        log.error("THE EMBEDDED MQTT BROKER IS OPEN ON %s:%d: anyone who reaches it can read "
                  "every terminal's traffic and publish on any terminal's topics", host,
                  s.embedded_mqtt_port)
        log.error("!" * 72)
    elif open_:
        log.warning("the embedded MQTT broker is open (FLEET_EMBEDDED_MQTT_OPEN): any local "
                    "process can publish on any terminal's topics")
    elif host not in LOOPBACK:
        log.warning("the embedded MQTT broker listens on %s without TLS: terminals' "
                    "passwords and traffic cross the network in clear", host)
    fleet.broker.start()
    if security is not None:
        fleet.broker_access.embedded_started(security)  # retiring also refuses it here
    return fleet.broker.url, user, password


def device_passwords(fleet):
    """device id -> passwords it may log in with: its current command key's and the next
    one's (a re-key in progress), none when unknown, retired or suspended."""

    def passwords(device_id: str) -> tuple:
        with fleet.uow() as uow:
            device = uow.devices.get(device_id)
            if device is None or device.state in ("retired", "suspended"):
                return ()
            version = device.key_version or 1
        return tuple(auth.broker_password(fleet.keys.command_key(device_id, v))
                     for v in (version, version + 1))

    return passwords
