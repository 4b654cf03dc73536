"""Wiring of firmware updates: the update service on the SQL stores and the status tracker,
its route in the dispatcher, and the ticker that paces campaigns (a daemon thread, stopped
when the fleet closes)."""

import logging
import secrets
import threading
from collections.abc import Callable

from fleet_server.adapters.update_store import (
    SqlDeviceDirectory,
    SqlUpdateStore,
    trusted_release_keys,
)
from fleet_server.service_layer.campaigns import UpdateService
from fleet_server.service_layer.messaging import Publish

log = logging.getLogger("fleet.updates")
_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_campaign_id() -> str:
    return "C" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))


def build_updates(engine, status, keys, clock) -> UpdateService:
    store = SqlUpdateStore(engine)
    return UpdateService(store, store, SqlDeviceDirectory(engine, status.online), keys, clock,
                         trusted_release_keys, new_campaign_id)


def start_update_ticker(service: UpdateService, publish: Publish, runs_jobs: Callable[[], bool],
                        every_s: float = 0.5) -> tuple[threading.Thread, Callable[[], None]]:
    """Returns the thread and what stops it when the fleet closes."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_s):
            if not runs_jobs():  # campaigns are paced by one process
                continue
            try:
                messages = service.tick()
                if messages:
                    publish(messages)
            except Exception:  # the ticker outlives a database hiccup
                log.exception("update ticker")

    thread = threading.Thread(target=loop, name="update-ticker", daemon=True)
    thread.start()

    def halt() -> None:
        stop.set()
        thread.join(5)

    return thread, halt
