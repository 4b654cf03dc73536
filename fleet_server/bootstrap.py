"""Wires adapters to services in one place: database, ledger, keys, MQTT, clock.

bootstrap() builds every service of a server and hands it to the ones that use it; nothing is
attached afterwards. connect_broker() (serve, demo, tests) then starts what needs the broker:
the bus, the NATS work queue, the once-only jobs lease and the tickers."""

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

from sqlalchemy import text

from fleet_server.adapters import orm
from fleet_server.adapters.bus_publisher import BusPublisher
from fleet_server.adapters.db import make_engine, make_session_factory
from fleet_server.adapters.metrics import FleetMetrics, TimedLedger
from fleet_server.adapters.sql_accounts import SqlAccountStore
from fleet_server.adapters.sql_lease import SqlLease
from fleet_server.adapters.sql_partner_data import SqlPartnerDataStore
from fleet_server.adapters.sql_request_store import SqlRequestStore
from fleet_server.adapters.sql_request_unit import request_unit
from fleet_server.adapters.sql_support import SqlSupportStore
from fleet_server.adapters.sql_uow import SqlUnitOfWork
from fleet_server.bootstrap_lifecycle import (
    ServerBrokerAccess,
    build_broker_access,
    rekey_publisher,
)
from fleet_server.bootstrap_support import build_support
from fleet_server.bootstrap_updates import build_updates
from fleet_server.ledger.admin_port import LedgerAdministration
from fleet_server.ledger.port import Ledger
from fleet_server.reference_ledger.reference import ReferenceLedger
from fleet_server.service_layer import code_lookup, money_requests
from fleet_server.service_layer.accounts import AccountService
from fleet_server.service_layer.campaigns import UpdateService
from fleet_server.service_layer.device_config import ConfigPublisher
from fleet_server.service_layer.device_status import StatusTracker
from fleet_server.service_layer.dispatch import Dispatcher
from fleet_server.service_layer.keys import KeyStore
from fleet_server.service_layer.operator_console import OperatorConsole
from fleet_server.service_layer.partner_console import PartnerConsole
from fleet_server.service_layer.registry_gate import RegistryGate
from fleet_server.service_layer.rekey import confirmed_by_result, rekey_when_needed
from fleet_server.service_layer.support import SupportDesk
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
    publish: BusPublisher  # the one way out to terminals (service_layer.messaging.Publish)
    support: SupportDesk
    updates: UpdateService
    accounts: AccountService
    broker_access: ServerBrokerAccess
    # The built-in reference ledger's administration; None with a remote ledger (administered
    # where it runs), and so are the consoles built on it.
    ledger_admin: LedgerAdministration | None
    partner_console: PartnerConsole | None
    operator_console: OperatorConsole | None
    # Held by the one process that runs the jobs that must run once (adapters/sql_lease.py).
    lease: SqlLease | None = None
    metrics: FleetMetrics | None = None
    # Started by connect_broker() and the scheduler; stopped by close().
    bus: object | None = None
    broker: object | None = None
    nats_inbox: object | None = None
    support_ticker: threading.Thread | None = None
    update_ticker: threading.Thread | None = None
    scheduler_stop: threading.Event | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)  # run first, in order

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
        for stop in self.closers:  # e.g. the support ticker's last flush
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


def build_ledger(settings: Settings, session_factory
                 ) -> tuple[Ledger, LedgerAdministration | None]:
    """The ledger, and its administration when it is the built-in one."""
    if settings.ledger_url:
        from fleet_server.ledger.http_client import HttpLedger

        return HttpLedger(settings.ledger_url, token=settings.ledger_token,
                          timeout_s=settings.ledger_timeout_s), None
    ledger = ReferenceLedger(session_factory)
    return ledger, ledger


def build_accounts(settings: Settings, session_factory) -> AccountService:
    from fleet_server.adapters.mail_texts import NoticeMailer
    from fleet_server.adapters.smtp_mailer import SmtpMailer

    return AccountService(SqlAccountStore(session_factory),
                          NoticeMailer(SmtpMailer.from_settings(settings).send),
                          settings.public_url, utc_now)


def bootstrap(settings: Settings, migrate: bool = True, clock=utc_now) -> Fleet:
    orm.start_mappers()
    engine = make_engine(settings.db_url, workers=settings.request_worker_count())
    if migrate:
        from fleet_server.adapters.migrations import upgrade

        upgrade(engine)
    session_factory = make_session_factory(engine)
    uow = partial(SqlUnitOfWork, session_factory)
    keys = KeyStore(settings.master_secret, settings.bdk_id)
    ledger, ledger_admin = build_ledger(settings, session_factory)
    publish = BusPublisher()
    metrics = FleetMetrics()
    request_store = SqlRequestStore(engine)
    requests = money_requests.RequestContext(
        request_store, TimedLedger(ledger, metrics.ledger_seconds), keys, clock,
        settings.ts_past_window_s, settings.ts_future_window_s,
        rekey_grace_s=settings.rekey_grace_s,
        on_rekey_needed=rekey_when_needed(uow, keys, clock, rekey_publisher(publish)),
        # The built-in ledger on this database: request, money and result in one transaction.
        unit=request_unit(engine, ledger,
                          lambda bound: TimedLedger(bound, metrics.ledger_seconds)))
    support_store = SqlSupportStore(engine)
    lease = SqlLease(engine, ttl_s=settings.lease_ttl_s)
    status = StatusTracker(support_store, clock, writes=lease.held)
    accounts = build_accounts(settings, session_factory)
    support = build_support(support_store, status, keys, publish, clock, settings, accounts)
    updates = build_updates(engine, status, keys, clock)  # releases and campaigns
    config = ConfigPublisher(request_store.load, ledger, keys, clock)
    dispatcher = Dispatcher(
        requests, status, config, support=support.commands, updates=updates,
        rekeys=confirmed_by_result(uow, keys, clock, partial(_grace, requests)),
        runs_jobs=lease.held, observe=metrics.observe_request,
        # No live view for made-up ids.
        registered=RegistryGate(support_store.device_ids, support_store.is_registered),
        codes=partial(code_lookup.handle, ctx=code_lookup.LookupContext(
            request_store.load, ledger, keys, clock, settings.ts_past_window_s,
            settings.ts_future_window_s)))
    broker_access = ServerBrokerAccess(build_broker_access(settings))
    partner_console = operator_console = None
    if ledger_admin is not None:  # lists, references and batches live in the ledger
        partner_console = PartnerConsole(
            ledger_admin, uow, SqlPartnerDataStore(session_factory), utc_now,
            keys, lambda device_id: publish(config.messages_for(device_id)),
            status.connection, support.interventions)
        operator_console = OperatorConsole(ledger_admin, uow, utc_now,
                                           broker_access, publish)
    fleet = Fleet(settings, engine, session_factory, ledger, keys, dispatcher, publish,
                  support, updates, accounts, broker_access, ledger_admin, partner_console,
                  operator_console, lease=lease, metrics=metrics)
    metrics.watch(fleet)
    return fleet


def _grace(requests: money_requests.RequestContext) -> timedelta:
    return timedelta(seconds=requests.rekey_grace_s)


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
                        workers=s.request_worker_count(), shared=s.mqtt_shared,
                        username=username, password=password,
                        tls_ca=s.mqtt_tls_ca, tls_cert=s.mqtt_tls_cert, tls_key=s.mqtt_tls_key,
                        unshared_only=bool(s.nats_url), publishers=s.mqtt_publishers)
    fleet.publish.attach(fleet.bus)
    fleet.bus.start()
    if s.nats_url:  # a NATS cluster: device messages come through its work queue instead
        from fleet_server.bootstrap_cluster import start_nats_inbox

        fleet.nats_inbox = start_nats_inbox(s, fleet.bus.submit)
        fleet.closers.insert(0, fleet.nats_inbox.stop)  # stopped before the bus
    fleet.lease.start()  # from now on only the holder runs the once-only jobs
    start_tickers(fleet)


def start_tickers(fleet: Fleet) -> None:
    """The support desk's and the campaigns' tickers (daemon threads), once."""
    from fleet_server.bootstrap_support import start_support_ticker
    from fleet_server.bootstrap_updates import start_update_ticker

    if fleet.support_ticker is None:
        fleet.support_ticker, halt = start_support_ticker(fleet.support, fleet.lease.held)
        fleet.closers.append(halt)
    if fleet.update_ticker is None:
        fleet.update_ticker, halt = start_update_ticker(fleet.updates, fleet.publish,
                                                        fleet.lease.held)
        fleet.closers.append(halt)
