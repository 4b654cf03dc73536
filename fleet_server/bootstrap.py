"""Wires adapters to services in one place: database, ledger, keys, MQTT, clock."""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import text

from fleet_server.adapters import orm
from fleet_server.adapters.db import make_engine, make_session_factory
from fleet_server.adapters.sql_request_store import SqlRequestStore
from fleet_server.adapters.sql_uow import SqlUnitOfWork
from fleet_server.ledger.port import Ledger
from fleet_server.service_layer import money_requests
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
    uow_factory = lambda: SqlUnitOfWork(session_factory)  # noqa: E731
    request_store = SqlRequestStore(engine)
    requests = money_requests.RequestContext(
        request_store, ledger, keys, clock, settings.ts_past_window_s,
        settings.ts_future_window_s)
    dispatcher = Dispatcher(requests, StatusTracker(uow_factory, clock),
                            ConfigPublisher(request_store.load, ledger, keys, clock))
    return Fleet(settings, engine, session_factory, ledger, keys, dispatcher)


def connect_broker(fleet: Fleet) -> None:
    """Start the embedded broker when none is configured, then connect the MQTT bus."""
    from fleet_server.adapters.mqtt_bus import MqttBus

    url = fleet.settings.broker_url
    if not url:
        from fleet_server.adapters.embedded_broker import EmbeddedBroker

        fleet.broker = EmbeddedBroker(port=fleet.settings.embedded_mqtt_port)
        fleet.broker.start()
        url = fleet.broker.url
    fleet.bus = MqttBus(url, fleet.dispatcher, client_id=fleet.settings.mqtt_client_id,
                        workers=fleet.settings.request_workers, shared=fleet.settings.mqtt_shared)
    fleet.bus.start()
