"""Several server processes on a NATS cluster: the shared JetStream consumer, wired to the bus."""

import logging

log = logging.getLogger("fleet")


def start_nats_inbox(fleet) -> None:
    """Device messages from the work queue go to the bus's per-device workers, acknowledged
    after handling; stopped (before the bus) when the fleet closes."""
    from fleet_server.adapters.nats_requests import JetStreamInbox

    s = fleet.settings
    urls = [u.strip() for u in s.nats_url.split(",") if u.strip()]
    inbox = JetStreamInbox(urls, fleet.bus.submit, replicas=s.nats_replicas)
    inbox.start()
    fleet.extras["nats_inbox"] = inbox
    fleet.extras.setdefault("on_close", []).insert(0, inbox.stop)
