"""The server's replies on a cluster: when a node holds one of the bus's connections (as a NATS
node catching up after a peer died does), the next replies go out on another connection at
once; the held one's message follows when the node lets go, and retained messages keep their
order on the main connection.

The "node" that holds is a TCP relay in front of the test's Mosquitto that stops relaying,
the other node is the Mosquitto itself: the bus sees a two-node cluster."""

import socket
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest

from fleet_server.adapters.mqtt_bus import HELD_S, MqttBus

pytestmark = pytest.mark.broker


class HoldingRelay:
    """Relays TCP to the broker; hold() stops relaying (both ways) until release()."""

    def __init__(self, port: int):
        self.upstream = ("127.0.0.1", port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.flowing = threading.Event()
        self.flowing.set()
        threading.Thread(target=self._accept, daemon=True).start()

    def hold(self) -> None:
        self.flowing.clear()

    def release(self) -> None:
        self.flowing.set()

    def close(self) -> None:
        self.release()
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                down, _ = self.listener.accept()
            except OSError:
                return
            up = socket.create_connection(self.upstream)
            for a, b in ((down, up), (up, down)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src, dst) -> None:
        try:
            while data := src.recv(65536):
                self.flowing.wait()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def _listener(mosquitto, topic_filter: str):
    got, lock = [], threading.Lock()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)

    def on_message(_c, _u, msg):
        with lock:
            got.append((msg.topic, msg.payload, msg.retain))

    client.on_message = on_message
    client.connect(mosquitto.host, mosquitto.port)
    client.subscribe(topic_filter, 1)
    client.loop_start()
    return client, got


def _wait(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_replies_go_around_a_connection_its_node_holds(mosquitto):
    relay = HoldingRelay(mosquitto.port)
    base = f"bench/spread/{uuid.uuid4().hex[:8]}"
    listener, got = _listener(mosquitto, base + "/#")
    # Node 1 is the relay, node 2 the broker itself: the main connection is on the relay, the
    # publishing connections (one per node) start on the broker and on the relay.
    url = f"mqtt://127.0.0.1:{relay.port},{mosquitto.url}"
    bus = MqttBus(url, lambda _t, _p: [], client_id="spread-" + uuid.uuid4().hex[:8])
    try:
        assert [link.port for link in bus.publishers] == [mosquitto.port, relay.port]
        bus.start()
        assert _wait(lambda: all(link.connected.is_set() for link in (bus.link,
                                                                      *bus.publishers)), 10)
        relay.hold()
        # Replies as a busy server sends them, one every 20 ms, while the relay holds two
        # of the three connections.
        for i in range(40):
            bus.publish(f"{base}/res/{i}", b"r%d" % i, 1, False)
            time.sleep(0.02)
        # The held connections show within HELD_S; what was sent after that went around them.
        settled = int(2 * HELD_S / 0.02)
        assert _wait(lambda: {f"{base}/res/{i}" for i in range(settled, 40)}
                     <= {t for t, _p, _r in got}, 5), got
        held = (bus.link, bus.publishers[1])
        assert sum(link.unacked for link in held) <= settled
        assert bus.publishers[0].unacked == 0
        relay.release()
        assert _wait(lambda: len(got) == 40, 10), got  # the held ones follow, none lost
        assert sorted(t for t, _p, _r in got) == sorted(f"{base}/res/{i}" for i in range(40))
        assert _wait(lambda: all(link.unacked == 0 for link in held), 5)

        # Retained messages stay on the main connection: the last one is the one kept.
        for version in (b"v1", b"v2", b"v3"):
            bus.publish(f"{base}/cfg", version, 1, True)
        assert _wait(lambda: bus.link.unacked == 0, 5)
        late, kept = _listener(mosquitto, f"{base}/cfg")
        assert _wait(lambda: kept, 5) and kept[-1][1:] == (b"v3", True)
        late.disconnect()
        bus.publish(f"{base}/cfg", b"", 1, True)  # the test broker forgets it
    finally:
        bus.stop()
        listener.disconnect()
        relay.close()


def test_a_single_broker_has_no_extra_connection(mosquitto):
    assert MqttBus(mosquitto.url, lambda _t, _p: []).publishers == []
    assert len(MqttBus(mosquitto.url, lambda _t, _p: [], publishers=2).publishers) == 2
