"""The embedded MQTT broker (amqtt) for the one-command demo: started in-process on loopback,
in its own thread with its own event loop. Tests and production use Mosquitto instead.

Without `security` it is open (the demo). With an EmbeddedSecurity it applies the same rules as
the Mosquitto configuration of `fleet broker-config`, through amqtt's plugin hooks: a TLS
listener where a device's certificate CN (its device id) is its identity and its client id
(fleet_server/adapters/embedded_identity.py) and a CRL refuses revoked ones, a password account
for the server, and per-device topic rules (fleet_server/adapters/broker_security.py) on
publish, subscribe and delivery.
"""

import asyncio
import hmac
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin

from fleet_server.adapters.broker_security import (
    SERVER_USER,
    device_allowed,
    server_allowed,
    verify_password,
)

log = logging.getLogger("fleet.broker")
PLUGIN = __name__


@dataclass
class EmbeddedSecurity:
    """server_password_hash: a $7$ hash (broker_security.hash_password). tls_port: the device
    listener (0 = none); cafile/certfile/keyfile as for Mosquitto; crlfile is reread when it
    changes, so a revocation applies to the next connection without a restart."""

    server_password_hash: str
    server_user: str = SERVER_USER
    tls_port: int = 0
    cafile: str = ""
    certfile: str = ""
    keyfile: str = ""
    crlfile: str = ""
    revoked: set = field(default_factory=set)  # device ids denied outright
    # device id -> the passwords it may log in with on the plain listener
    # (protocol.auth.broker_password of its command key), empty for an unknown or retired one.
    # None: devices log in with their certificate only.
    device_passwords: Callable[[str], tuple] | None = None


def _peer_identity(session) -> tuple[str | None, int | None]:
    """(CN, serial) of a verified client certificate, or (None, None)."""
    ssl_object = getattr(session, "ssl_object", None)
    if ssl_object is None:
        return None, None
    cert = ssl_object.getpeercert()  # only verified certificates are returned, parsed
    if not cert:
        return None, None
    cn = None
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                cn = value
    serial = cert.get("serialNumber")
    return cn, int(serial, 16) if serial else None


class _Crl:
    """Serials on the CRL file, reloaded when its modification time changes."""

    def __init__(self, path: str):
        self.path, self._mtime, self._serials = path, None, frozenset()

    def revoked(self, serial: int | None) -> bool:
        if not self.path:
            return False
        import os

        from cryptography import x509

        try:
            mtime = os.stat(self.path).st_mtime_ns
        except OSError:
            return True  # a configured CRL that cannot be read: refuse rather than trust
        if mtime != self._mtime:
            with open(self.path, "rb") as f:
                crl = x509.load_pem_x509_crl(f.read())
            self._serials = frozenset(r.serial_number for r in crl)
            self._mtime = mtime
        return serial in self._serials


# amqtt builds plugins from a dotted path and a config dict: the dict carries the key of the
# broker's EmbeddedSecurity in this registry, so two brokers in one process keep their own rules.
_SECURITY: dict[str, tuple[EmbeddedSecurity, _Crl]] = {}


class FleetAuthPlugin(BaseAuthPlugin):
    @dataclass
    class Config:
        key: str = ""

    async def authenticate(self, *, session) -> bool:
        security, crl = _SECURITY[self.config.key]
        session.fleet_role = None
        cn, serial = _peer_identity(session)
        if cn is not None:  # a verified certificate decides, not CONNECT's user name
            if cn in security.revoked or crl.revoked(serial):
                log.warning("refused the revoked certificate of %s", cn)
                return False
            if not device_allowed(cn, f"t/{cn}/status", "publish"):
                return False  # a certificate of ours whose CN is not a device id
            session.username, session.fleet_role = cn, "device"
            return True
        if session.username == security.server_user and verify_password(
                session.password or "", security.server_password_hash):
            session.fleet_role = "server"
            return True
        return self._device_password(security, session)

    @staticmethod
    def _device_password(security, session) -> bool:
        user, given = session.username, session.password or ""
        if (security.device_passwords is None or user in security.revoked
                or not device_allowed(user or "", f"t/{user}/status", "publish")):
            return False
        try:
            expected = security.device_passwords(user)
        except Exception:  # the registry cannot say: no login
            log.exception("password check of %s failed", user)
            return False
        if not any(hmac.compare_digest(given.encode(), p.encode()) for p in expected):
            log.warning("refused a password login as %s", user)
            return False
        session.fleet_role = "device"
        return True


class FleetTopicPlugin(BaseTopicPlugin):
    @dataclass
    class Config:
        key: str = ""

    async def topic_filtering(self, *, session=None, topic=None, action=None) -> bool:
        security, _ = _SECURITY[self.config.key]
        role = getattr(session, "fleet_role", None)
        if role == "server":
            return server_allowed(topic)
        if role != "device" or session.username in security.revoked:
            return False
        return device_allowed(session.username, topic, str(action.value if action else ""))


class _SubscriptionsSnapshot(dict):
    """amqtt's subscription table, iterated over a copy. The broker walks it with awaits in the
    loop (a broadcast, the retained messages of a returning session) while another client's
    SUBSCRIBE adds a filter: the walk then died with "dictionary changed size during
    iteration" and that message reached none of the remaining subscribers (seen as lost
    statuses when the demo's terminals all connect at once)."""

    def __iter__(self):
        return iter(list(super().keys()))

    def items(self):
        return [(key, list(value)) for key, value in super().items()]


class EmbeddedBroker:
    def __init__(self, host: str = "127.0.0.1", port: int = 1884,
                 security: EmbeddedSecurity | None = None):
        self.host, self.port = host, port
        self.security = security
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        self._thread = threading.Thread(target=self._run, name="embedded-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"embedded broker did not start on {self.host}:{self.port}")
        if self._error:
            raise RuntimeError(f"embedded broker failed: {self._error}") from self._error
        log.info("embedded MQTT broker on %s", self.url)

    def _run(self) -> None:
        from fleet_server.adapters.embedded_identity import IdentityBroker

        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "sys_interval": 0,
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin":
                        {"allow_anonymous": True}},
        }
        if self.security is not None:
            config["plugins"] = self._secure(config["listeners"])
        try:
            self._broker = IdentityBroker(config, loop=self._loop)
            self._broker._subscriptions = _SubscriptionsSnapshot(self._broker._subscriptions)
            self._loop.run_until_complete(self._broker.start())
        except BaseException as err:  # reported to start() rather than lost in the thread
            self._error = err
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    def _secure(self, listeners: dict) -> dict:
        sec = self.security
        if sec.tls_port:
            listeners["devices"] = {"type": "tcp", "bind": f"{self.host}:{sec.tls_port}",
                                    "ssl": True, "cafile": sec.cafile, "certfile": sec.certfile,
                                    "keyfile": sec.keyfile}
        key = str(id(self))
        _SECURITY[key] = (sec, _Crl(sec.crlfile))
        return {f"{PLUGIN}.FleetAuthPlugin": {"key": key},
                f"{PLUGIN}.FleetTopicPlugin": {"key": key}}

    def stop(self) -> None:
        if self._loop is None or self._broker is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop)
        try:
            future.result(10)
        except Exception as err:  # shutting down anyway
            log.warning("embedded broker shutdown: %s", err)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(5)


