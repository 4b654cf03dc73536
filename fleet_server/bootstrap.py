"""Wires adapters to services in one place: database, ledger, keys, MQTT, clock."""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from sqlalchemy import text

from fleet_server.adapters import orm
from fleet_server.adapters.db import make_engine, make_session_factory
from fleet_server.adapters.metrics import FleetMetrics, TimedLedger
from fleet_server.adapters.sql_lease import SqlLease
from fleet_server.adapters.sql_request_store import SqlRequestStore, request_unit
from fleet_server.adapters.sql_support import SqlSupportStore
from fleet_server.adapters.sql_uow import SqlUnitOfWork
from fleet_server.bootstrap_lifecycle import wire_lifecycle
from fleet_server.ledger.port import Ledger
from fleet_server.service_layer import code_lookup, money_requests
from fleet_server.service_layer.device_config import ConfigPublisher
from fleet_server.service_layer.device_status import StatusTracker
from fleet_server.service_layer.dispatch import Dispatcher
from fleet_server.service_layer.keys import KeyStore
from fleet_server.settings import Settings

log = logging.getLogger("fleet")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Fleet:
    """Everything a running server holds; entrypoints take what they need from here."""

    settings: Settings
    engine: object
    session_factory: object
    ledger: Ledger
    keys: KeyStore
    dispatcher: Dispatcher
    bus: object | None = None
    broker: object | None = None
    # Held by the one process that runs the jobs that must run once (adapters/sql_lease.py).
    lease: object | None = None
    metrics: FleetMetrics | None = None
    extras: dict = field(default_factory=dict)

    def uow(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.session_factory)

    def database_ok(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("select 1"))
            return True
        except Exception:  # reported by /health, never raised
            return False

    def close(self) -> None:
        for stop in self.extras.get("on_close", []):  # e.g. the support ticker's last flush
            stop()
        if self.lease is not None:
            self.lease.stop()  # another process takes the jobs over at once
        if self.bus is not None:
            self.bus.stop()
        if self.broker is not None:
            self.broker.stop()
        close = getattr(self.ledger, "close", None)
        if close:
            close()
        self.engine.dispose()


def build_ledger(settings: Settings, session_factory) -> Ledger:
    if settings.ledger_url:
        from fleet_server.ledger.http_client import HttpLedger

        return HttpLedger(settings.ledger_url, token=settings.ledger_token,
                          timeout_s=settings.ledger_timeout_s)
    from fleet_server.ledger.reference import ReferenceLedger

    return ReferenceLedger(session_factory)


def bootstrap(settings: Settings, migrate: bool = True, clock=utc_now) -> Fleet:
    orm.start_mappers()
    engine = make_engine(settings.db_url)
    if migrate:
        from fleet_server.adapters.migrations import upgrade

        upgrade(engine)
    session_factory = make_session_factory(engine)
    keys = KeyStore(settings.master_secret, settings.bdk_id)
    ledger = build_ledger(settings, session_factory)
    request_store = SqlRequestStore(engine)
    metrics = FleetMetrics()
    requests = money_requests.RequestContext(
        request_store, TimedLedger(ledger, metrics.ledger_seconds), keys, clock,
        settings.ts_past_window_s, settings.ts_future_window_s)
    # The built-in ledger on this database: request, money and result in one transaction.
    requests.unit = request_unit(engine, ledger,
                                 lambda bound: TimedLedger(bound, metrics.ledger_seconds))
    support_store = SqlSupportStore(engine)
    lease = SqlLease(engine, ttl_s=settings.lease_ttl_s)
    dispatcher = Dispatcher(requests, StatusTracker(support_store, clock, writes=lease.held),
                            ConfigPublisher(request_store.load, ledger, keys, clock),
                            runs_jobs=lease.held, observe=metrics.observe_request)
    dispatcher.codes = partial(code_lookup.handle, ctx=code_lookup.LookupContext(
        request_store.load, ledger, keys, clock, settings.ts_past_window_s,
        settings.ts_future_window_s))
    fleet = Fleet(settings, engine, session_factory, ledger, keys, dispatcher, lease=lease,
                  metrics=metrics)
    metrics.watch(fleet)
    wire_lifecycle(fleet, requests, clock)  # broker revocation, re-key (bootstrap_lifecycle)
    wire_support(fleet, support_store, clock)
    from fleet_server.bootstrap_updates import wire_updates

    wire_updates(fleet, clock)  # releases and campaigns (fleet.extras["updates"])
    return fleet


def connect_broker(fleet: Fleet) -> None:
    """Start the embedded broker when none is configured, then connect the MQTT bus."""
    from fleet_server.adapters.mqtt_bus import MqttBus

    refusal = fleet.settings.plain_broker_refusal()
    if refusal:
        raise ValueError(refusal)
    s = fleet.settings
    url, username, password = s.broker_url, s.mqtt_username, s.mqtt_password
    if not url:  # the embedded broker, with per-device logins and topic rules by default
        from fleet_server.bootstrap_broker import start_embedded

        url, user, secret = start_embedded(fleet)
        username, password = username or user, password or secret
    fleet.bus = MqttBus(url, fleet.dispatcher, client_id=s.mqtt_client_id,
                        workers=s.request_workers, shared=s.mqtt_shared,
                        username=username, password=password,
                        tls_ca=s.mqtt_tls_ca, tls_cert=s.mqtt_tls_cert, tls_key=s.mqtt_tls_key,
                        unshared_only=bool(s.nats_url))
    fleet.bus.start()
    if s.nats_url:  # a NATS cluster: device messages come through its work queue instead
        from fleet_server.bootstrap_cluster import start_nats_inbox

        start_nats_inbox(fleet)
    fleet.lease.start()  # from now on only the holder runs the once-only jobs
    start_support_ticker(fleet)
    from fleet_server.bootstrap_updates import start_update_ticker

    start_update_ticker(fleet)


def wire_support(fleet: Fleet, store, clock) -> None:
    """The support desk (fleet.extras["support"]): commands go out through the bus when there
    is one; until then they wait in the queue like for an offline terminal."""
    from fleet_server.service_layer.support import SupportDesk
    from fleet_server.service_layer.support_commands import CommandDesk
    from fleet_server.service_layer.support_interventions import InterventionDesk

    def publish(topic: str, payload: bytes, qos: int, retain: bool) -> None:
        if fleet.bus is None:
            raise RuntimeError("no broker connection")
        fleet.bus.publish(topic, payload, qos, retain)

    from fleet_server.service_layer.registry_gate import RegistryGate

    status = fleet.dispatcher.status
    fleet.dispatcher.registered = RegistryGate(store.device_ids)  # no live view for made-up ids
    commands = CommandDesk(store, status, fleet.keys, publish, clock)
    fleet.dispatcher.support = commands
    fleet.extras["support"] = SupportDesk(store, status, commands,
                                          InterventionDesk(store, status, clock,
                                                           partner_notices(fleet)), clock)


def partner_notices(fleet: Fleet):
    """E-mails to partners following a help request; None without an SMTP server."""
    if not fleet.settings.smtp_host:
        return None
    from fleet_server.adapters.sql_accounts import account_service
    from fleet_server.service_layer.support_notices import PartnerNotices

    def staff(partner_id: str) -> set[str]:
        return {u.email for u in account_service(fleet).users(partner_id) if u.active}

    return PartnerNotices(staff, lambda *mail: account_service(fleet).send_mail(*mail),
                          fleet.settings.public_url)


def start_support_ticker(fleet: Fleet, every_s: float = 0.5) -> None:
    """Batched status writes, command timeouts, alerts, pruning: in a daemon thread, stopped
    (with a last flush) when the fleet closes."""
    import threading
    import time

    desk = fleet.extras.get("support")
    if desk is None or "support_ticker" in fleet.extras:
        return
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_s):
            desk.tick(time.monotonic(), runs_jobs=fleet.lease.held())

    thread = threading.Thread(target=loop, name="support-ticker", daemon=True)
    thread.start()

    def halt() -> None:
        stop.set()
        thread.join(5)
        desk.status.flush()

    fleet.extras["support_ticker"] = thread
    fleet.extras.setdefault("on_close", []).append(halt)
