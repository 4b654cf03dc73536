"""The Publish port on the server's broker connection, which exists only once
bootstrap.connect_broker() has started it (never in a CLI command)."""

from collections.abc import Iterable

from fleet_server.service_layer.messaging import Outgoing


class BusPublisher:
    def __init__(self):
        self.bus = None

    def attach(self, bus) -> None:
        self.bus = bus

    def __call__(self, messages: Iterable[Outgoing]) -> bool:
        bus = self.bus
        if bus is None:
            return False
        for topic, payload, qos, retain in messages:
            bus.publish(topic, payload, qos, retain)
        return True
