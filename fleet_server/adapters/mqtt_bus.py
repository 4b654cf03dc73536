"""The server's MQTT connection (paho-mqtt 2.x, MQTT 3.1.1) and its worker pool.

- TCP_NODELAY on the socket: a QoS 1 round trip otherwise waits on Nagle + delayed ACK (~44 ms).
- Persistent session (clean_session=False, fixed client id) and manual acknowledgement: a
  request is acknowledged to the broker only after it was handled, so a server crash loses
  nothing; the broker redelivers on reconnect.
- Messages of one device always go to the same worker, so its requests are handled in order;
  different devices are handled in parallel.
- A broker cluster is a comma-separated list of URLs: when the node in use goes away, the next
  one is tried (the session lives on in the cluster). With unshared_only=True the bus
  subscribes only to what every server process gets (no `$share` filters); the shared ones
  come in through submit() (e.g. from a NATS JetStream work queue).
"""

import logging
import queue
import socket
import threading
import zlib
from collections.abc import Callable
from urllib.parse import urlparse

import paho.mqtt.client as mqtt

from protocol import topics

log = logging.getLogger("fleet.mqtt")

Handler = Callable[[str, bytes], list[tuple[str, bytes, int, bool]]]
_STOP = object()


def parse_broker_url(url: str) -> tuple[str, int]:
    parsed = urlparse(url)
    if parsed.scheme not in ("mqtt", "tcp", "mqtts") or not parsed.hostname:
        raise ValueError(f"broker URL must look like mqtt://host:port or mqtts://host:port, "
                         f"not {url!r}")
    return parsed.hostname, parsed.port or (8883 if parsed.scheme == "mqtts" else 1883)


def parse_broker_urls(url: str) -> list[tuple[str, int]]:
    """'mqtt://a:1883,mqtt://b:1883' -> [(a, 1883), (b, 1883)]: the nodes of a cluster."""
    return [parse_broker_url(u.strip()) for u in url.split(",") if u.strip()]


def broker_uses_tls(url: str) -> bool:
    return urlparse(url).scheme == "mqtts"


class MqttBus:
    def __init__(self, url: str, handler: Handler, client_id: str = "fleet-server",
                 workers: int = 8, shared: bool = False, queue_size: int = 10_000,
                 username: str | None = None, password: str | None = None,
                 tls_ca: str | None = None, tls_cert: str | None = None,
                 tls_key: str | None = None, unshared_only: bool = False):
        self.nodes = parse_broker_urls(url)
        self.host, self.port = self.nodes[0]
        self.handler = handler
        self.shared, self.unshared_only = shared or unshared_only, unshared_only
        self.connected = threading.Event()
        self.dropped = 0  # messages refused because a worker queue was full
        self.batch_max = 64  # messages handled together by a worker (group commit)
        self._queues = [queue.Queue(queue_size) for _ in range(max(1, workers))]
        self._threads: list[threading.Thread] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv311, clean_session=False, manual_ack=True)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._next_node
        self.client.on_message = self._on_message
        self.client.on_socket_open = _nodelay
        # On a cluster the next node is worth trying soon: a surviving node may refuse the
        # first attempts while its JetStream elects a new leader (a few seconds).
        self.client.reconnect_delay_set(min_delay=1, max_delay=2 if len(self.nodes) > 1 else 10)
        if username:  # the server account of `fleet broker-config`
            self.client.username_pw_set(username, password)
        if broker_uses_tls(url):  # the broker's certificate is checked against the fleet root
            self.client.tls_set(ca_certs=tls_ca, certfile=tls_cert, keyfile=tls_key)

    def start(self, timeout: float = 10.0) -> None:
        for i, q in enumerate(self._queues):
            thread = threading.Thread(target=self._work, args=(q,), name=f"mqtt-worker-{i}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        if not self.connected.wait(timeout):
            log.warning("broker %s:%d not reachable yet; retrying in the background",
                        self.host, self.port)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        for q in self._queues:
            q.put(_STOP)
        for thread in self._threads:
            thread.join(5)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=qos, retain=retain)

    def _on_connect(self, client, _userdata, _flags, reason_code, _props):
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        filters = topics.server_filters(shared=self.shared)
        if self.unshared_only:
            filters = [f for f in filters if not f.startswith("$share/")]
        if filters:
            client.subscribe([(f, 1) for f in filters])
        self.connected.set()
        log.info("connected to %s:%d, subscribed to %d filters", self.host, self.port,
                 len(filters))

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _props):
        self.connected.clear()
        log.warning("disconnected from the broker %s:%d: %s", self.host, self.port, reason_code)
        self._next_node()

    def _next_node(self, *_args) -> None:
        """A cluster: paho's own reconnection (after its delay) goes to the next node; also
        after a failed attempt (on_connect_fail), so a dead node is passed."""
        if len(self.nodes) > 1:
            self.host, self.port = self.nodes[(self.nodes.index((self.host, self.port)) + 1)
                                              % len(self.nodes)]
            # paho's host/port setters refuse while a connection is being torn down or
            # retried, which is exactly when this runs; reconnect() reads these two.
            self.client._host, self.client._port = self.host, self.port

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


def _nodelay(_client, _userdata, sock) -> None:
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):  # not a TCP socket (e.g. a unix socket in tests)
        pass
