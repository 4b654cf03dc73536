"""Wiring of firmware updates: the update service on the SQL stores and the status tracker,
its route in the dispatcher, and the ticker that paces campaigns (a daemon thread, stopped
when the fleet closes)."""

import logging
import secrets
import threading

from fleet_server.adapters.update_store import (
    SqlDeviceDirectory,
    SqlUpdateStore,
    trusted_release_keys,
)
from fleet_server.service_layer.campaigns import UpdateService

log = logging.getLogger("fleet.updates")
_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_campaign_id() -> str:
    return "C" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))


def wire_updates(fleet, clock) -> UpdateService:
    store = SqlUpdateStore(fleet.engine)
    status = fleet.dispatcher.status
    service = UpdateService(store, store, SqlDeviceDirectory(fleet.engine, status.online),
                            fleet.keys, clock, trusted_release_keys, new_campaign_id)
    fleet.dispatcher.updates = service
    fleet.extras["updates"] = service
    return service


def start_update_ticker(fleet, every_s: float = 0.5) -> None:
    service = fleet.extras.get("updates")
    if service is None or "update_ticker" in fleet.extras:
        return
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_s):
            bus = fleet.bus
            if bus is None or not fleet.lease.held():  # campaigns are paced by one process
                continue
            try:
                for topic, payload, qos, retain in service.tick():
                    bus.publish(topic, payload, qos, retain)
            except Exception:  # the ticker outlives a database hiccup
                log.exception("update ticker")

    thread = threading.Thread(target=loop, name="update-ticker", daemon=True)
    thread.start()

    def halt() -> None:
        stop.set()
        thread.join(5)

    fleet.extras["update_ticker"] = thread
    fleet.extras.setdefault("on_close", []).append(halt)
