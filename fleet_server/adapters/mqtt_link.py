"""One paho-mqtt connection of the server (MQTT 3.1.1) to a broker or to a cluster's nodes.

- TCP_NODELAY on the socket: a QoS 1 round trip otherwise waits on Nagle + delayed ACK (~44 ms).
- Persistent session (clean_session=False, fixed client id): what was published and not yet
  acknowledged is sent again after a reconnection.
- A broker cluster is a list of nodes: when the node in use goes away, paho's own reconnection
  goes to the next one (the session lives on in the cluster).
- `unacked` / `waiting_s()`: the publishes the broker has not acknowledged yet and how long the
  oldest has waited. A connection whose node holds its publishes (a NATS node catching up
  after a peer died) shows it within a fraction of a second, and the bus sends its replies on
  another one (mqtt_bus.MqttBus.least_busy).
"""

import logging
import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import urlparse

import paho.mqtt.client as mqtt

log = logging.getLogger("fleet.mqtt")


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


class BrokerLink:
    """The client, the node it is on, whether it is connected, and its unacknowledged count."""

    def __init__(self, url: str, client_id: str, *, first_node: int = 0,
                 manual_ack: bool = False, username: str | None = None,
                 password: str | None = None, tls_ca: str | None = None,
                 tls_cert: str | None = None, tls_key: str | None = None,
                 on_connected: Callable[[mqtt.Client], None] | None = None):
        self.nodes = parse_broker_urls(url)
        self.host, self.port = self.nodes[first_node % len(self.nodes)]
        self.client_id = client_id
        self.connected = threading.Event()
        self._on_connected = on_connected
        self._lock = threading.Lock()
        self._sent: dict[int, float] = {}  # mid -> when published, oldest first
        self._early: set[int] = set()  # acknowledged before publish() could note it
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv311, clean_session=False,
                                  manual_ack=manual_ack)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._connected
        self.client.on_disconnect = self._disconnected
        self.client.on_connect_fail = self._next_node
        self.client.on_publish = self._acknowledged
        self.client.on_socket_open = _nodelay
        # On a cluster the next node is worth trying soon: a surviving node may refuse the
        # first attempts while its JetStream elects a new leader (a few seconds).
        self.client.reconnect_delay_set(min_delay=1, max_delay=2 if len(self.nodes) > 1 else 10)
        if username:  # the server account of `fleet broker-config`
            self.client.username_pw_set(username, password)
        if broker_uses_tls(url):  # the broker's certificate is checked against the fleet root
            self.client.tls_set(ca_certs=tls_ca, certfile=tls_cert, keyfile=tls_key)

    @property
    def unacked(self) -> int:
        return len(self._sent)

    def waiting_s(self, now: float) -> float:
        """How long the oldest unacknowledged publish has waited (0: none waits)."""
        with self._lock:
            oldest = next(iter(self._sent.values()), None)
        return 0.0 if oldest is None else now - oldest

    def start(self) -> None:
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        # paho calls on_publish once per message: on PUBACK for QoS 1, once written for
        # QoS 0 (a QoS 0 message refused while disconnected gets none), possibly from its
        # own thread before publish() returns here.
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        now = time.monotonic()
        with self._lock:
            if info.mid in self._early:
                self._early.discard(info.mid)
            elif qos > 0 or info.rc == mqtt.MQTT_ERR_SUCCESS:
                self._sent[info.mid] = now

    def _acknowledged(self, _client, _userdata, mid, _reason_code, _props) -> None:
        with self._lock:
            if self._sent.pop(mid, None) is None:
                if len(self._early) > 1000:  # ids of messages never noted: forget them
                    self._early.clear()
                self._early.add(mid)

    def _connected(self, client, _userdata, _flags, reason_code, _props):
        if reason_code.is_failure:
            log.error("broker refused the connection of %s: %s", self.client_id, reason_code)
            return
        if self._on_connected is not None:
            self._on_connected(client)
        self.connected.set()
        log.info("%s connected to %s:%d", self.client_id, self.host, self.port)

    def _disconnected(self, _client, _userdata, _flags, reason_code, _props):
        self.connected.clear()
        log.warning("%s disconnected from the broker %s:%d: %s", self.client_id, self.host,
                    self.port, reason_code)
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


def _nodelay(_client, _userdata, sock) -> None:
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):  # not a TCP socket (e.g. a unix socket in tests)
        pass
