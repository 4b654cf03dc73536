"""Several server processes on a NATS cluster: the shared JetStream consumer, wired to the bus."""

import logging

log = logging.getLogger("fleet")


def start_nats_inbox(settings, submit):
    """Device messages from the work queue go to the bus's per-device workers (`submit`),
    acknowledged after handling; the caller stops it (before the bus) when the fleet closes."""
    from fleet_server.adapters.nats_requests import JetStreamInbox

    urls = [u.strip() for u in settings.nats_url.split(",") if u.strip()]
    inbox = JetStreamInbox(urls, submit, replicas=settings.nats_replicas)
    inbox.start()
    return inbox
