"""The server's MQTT connections (paho-mqtt 2.x, MQTT 3.1.1) and its worker pool.

- The main connection (mqtt_link.BrokerLink) subscribes, with manual acknowledgement: a
  request is acknowledged to the broker only after it was handled, so a server crash loses
  nothing; the broker redelivers on reconnect.
- Messages of one device always go to the same worker, so its requests are handled in order;
  different devices are handled in parallel.
- On a broker cluster, `publishers` more connections (one per node by default, each starting
  on another node) carry replies: each non-retained message goes out on a connected one whose
  publishes are being acknowledged, the least busy, so a node that holds one connection's
  publishes (catching up after a peer died) delays the few replies sent in the quarter of a
  second before it shows, not every answer (their terminals' retransmissions get them). Retained
  messages stay on the main connection, in order (the last one published is the one kept).
- With unshared_only=True the bus subscribes only to what every server process gets (no
  `$share` filters); the shared ones come in through submit() (e.g. from a NATS JetStream
  work queue).
"""

import logging
import queue
import threading
import time
import zlib
from collections.abc import Callable

from fleet_server.adapters.mqtt_link import BrokerLink
from fleet_server.adapters.mqtt_link import parse_broker_url as parse_broker_url  # callers'
from protocol import topics

log = logging.getLogger("fleet.mqtt")

Handler = Callable[[str, bytes], list[tuple[str, bytes, int, bool]]]
_STOP = object()
# A QoS 1 round trip takes milliseconds, even under load; a publish unacknowledged this long
# means the node holds the connection.
HELD_S = 0.25


class MqttBus:
    def __init__(self, url: str, handler: Handler, client_id: str = "fleet-server",
                 workers: int = 8, shared: bool = False, queue_size: int = 10_000,
                 username: str | None = None, password: str | None = None,
                 tls_ca: str | None = None, tls_cert: str | None = None,
                 tls_key: str | None = None, unshared_only: bool = False,
                 publishers: int | None = None):
        self.handler = handler
        self.shared, self.unshared_only = shared or unshared_only, unshared_only
        self.dropped = 0  # messages refused because a worker queue was full
        self.batch_max = 64  # messages handled together by a worker (group commit)
        self._queues = [queue.Queue(queue_size) for _ in range(max(1, workers))]
        self._threads: list[threading.Thread] = []
        access = dict(username=username, password=password, tls_ca=tls_ca,
                      tls_cert=tls_cert, tls_key=tls_key)
        self.link = BrokerLink(url, client_id, manual_ack=True, on_connected=self._subscribe,
                               **access)
        self.link.client.on_message = self._on_message
        nodes = len(self.link.nodes)
        if publishers is None:  # one per node on a cluster; a single broker needs none
            publishers = nodes if nodes > 1 else 0
        self.publishers = [BrokerLink(url, f"{client_id}-pub{i + 1}", first_node=i + 1,
                                      **access) for i in range(publishers)]

    # The main connection, as callers and tests know it.
    @property
    def client(self):
        return self.link.client

    @property
    def connected(self) -> threading.Event:
        return self.link.connected

    @property
    def nodes(self) -> list[tuple[str, int]]:
        return self.link.nodes

    @property
    def host(self) -> str:
        return self.link.host

    @property
    def port(self) -> int:
        return self.link.port

    def start(self, timeout: float = 10.0) -> None:
        for i, q in enumerate(self._queues):
            thread = threading.Thread(target=self._work, args=(q,), name=f"mqtt-worker-{i}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)
        for link in (self.link, *self.publishers):
            link.start()
        if not self.connected.wait(timeout):
            log.warning("broker %s:%d not reachable yet; retrying in the background",
                        self.host, self.port)

    def stop(self) -> None:
        for link in (*self.publishers, self.link):
            link.stop()
        for q in self._queues:
            q.put(_STOP)
        for thread in self._threads:
            thread.join(5)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        link = self.link if retain or not self.publishers else self.least_busy()
        link.publish(topic, payload, qos, retain)

    def least_busy(self) -> BrokerLink:
        """A connected link whose oldest unacknowledged publish is recent, the one with the
        fewest unacknowledged; failing that, the least held one (paho keeps the message
        until its connection is back)."""
        now = time.monotonic()

        def rank(link: BrokerLink):
            waited = link.waiting_s(now)
            return (not link.connected.is_set(), waited > HELD_S, link.unacked, waited)

        return min((self.link, *self.publishers), key=rank)

    def _subscribe(self, client) -> None:
        filters = topics.server_filters(shared=self.shared)
        if self.unshared_only:
            filters = [f for f in filters if not f.startswith("$share/")]
        if filters:
            client.subscribe([(f, 1) for f in filters])
        log.info("subscribed to %d filters", len(filters))

    def _on_message(self, client, _userdata, msg) -> None:
        ack = (lambda: client.ack(msg.mid, msg.qos)) if msg.qos > 0 else None
        self.submit(msg.topic, msg.payload, ack)

    def submit(self, topic: str, payload: bytes, ack=None) -> None:
        """Queue a message for its device's worker; ack() is called once it was handled."""
        # Route by device so one device's requests stay in order; ack after handling.
        parts = topic.split("/", 2)
        device = parts[1] if len(parts) > 1 else ""
        q = self._queues[zlib.crc32(device.encode()) % len(self._queues)]
        try:
            q.put_nowait((topic, payload, ack))
        except queue.Full:
            # Not acknowledged: the broker redelivers it after a reconnect; the terminal also
            # retransmits the same request.
            self.dropped += 1
            log.error("worker queue full, message on %s left unacknowledged", topic[:80])

    def _work(self, q: queue.Queue) -> None:
        # A handler with batch() gets what queued up behind the first message, in order (the
        # dispatcher commits those debits together: group commit); replies and acks follow.
        batch = getattr(self.handler, "batch", None)
        while True:
            items, stop = [q.get()], False
            while batch is not None and len(items) < self.batch_max and items[-1] is not _STOP:
                try:
                    items.append(q.get_nowait())
                except queue.Empty:
                    break
            if items[-1] is _STOP:
                items, stop = items[:-1], True
            if items:
                self._handle(items, batch)
            if stop:
                return

    def _handle(self, items: list, batch) -> None:
        try:
            if batch is not None and len(items) > 1:
                outgoing = batch([(topic, payload) for topic, payload, _ in items])
            else:
                outgoing = [self.handler(topic, payload) for topic, payload, _ in items]
            for out in outgoing:
                for out_topic, out_payload, out_qos, retain in out:
                    self.publish(out_topic, out_payload, out_qos, retain)
        except Exception:  # the server never dies on device input
            log.exception("handler failed on %s", items[0][0][:80])
        finally:
            for _topic, _payload, ack in items:
                if ack is not None:
                    ack()

