"""Every message from the broker goes through here: one table from message type to handler."""

import logging
from dataclasses import dataclass

from fleet_server.service_layer import money_requests
from fleet_server.service_layer.device_config import ConfigPublisher
from fleet_server.service_layer.device_status import StatusTracker
from protocol import topics
from protocol.errors import ProtocolError

log = logging.getLogger("fleet.dispatch")

Outgoing = tuple[str, bytes, int, bool]  # topic, payload, qos, retain


@dataclass
class Dispatcher:
    requests: money_requests.RequestContext
    status: StatusTracker
    config: ConfigPublisher | None = None
    received: int = 0
    refused: int = 0

    def __call__(self, topic: str, payload: bytes) -> list[Outgoing]:
        self.received += 1
        try:
            _device, mtype = topics.parse(topic)
        except ProtocolError as err:
            self.refused += 1
            log.warning("dropped message on %r: %s", topic[:80], err)
            return []
        if mtype in money_requests.REQUEST_TYPES:
            reply = money_requests.handle(topic, payload, self.requests)
            return [(reply.topic, reply.payload, 1, False)] if reply else []
        if mtype in ("heartbeat", "status"):
            message = self.status.handle(topic, payload)
            if mtype == "status" and message is not None and self.config is not None:
                return self.config.on_status(message["dev"], message)
            return []
        log.debug("no handler yet for %s", mtype)
        return []
