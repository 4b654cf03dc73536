"""The terminal's MQTT client (firmware/terminal/mqtt) against a scripted broker, on CPython: a
socketpair per connection and a fake clock. Offline subscribe and publish, retransmission with
DUP, reconnection resending what is in flight, keepalive and dead connection detection, backoff
with jitter, malformed input."""

import socket
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.micropython, pytest.mark.broker]

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "firmware"))
from terminal.mqtt import packets as pk  # noqa: E402
from terminal.mqtt.client import DOWN, UP, MQTTClient  # noqa: E402


class Scripted:
    """The client with a hand-driven clock; each connection is a socketpair whose other end
    the test reads and writes as the broker."""

    def __init__(self, refuse=False, **options):
        self.now, self.ends, self.refuse, self.events = 0, [], refuse, []
        self.client = MQTTClient("c1", "broker", 1883, clock=lambda: self.now,
                                 rand=lambda n: n - 1, socket_factory=self._open, **options)
        self.client.on_connect = lambda: self.events.append("up")
        self.client.on_disconnect = lambda: self.events.append("down")
        self.client.on_message = lambda t, p: self.events.append((t, p))

    def _open(self, host, port):
        if self.refuse:
            raise OSError(111, "refused")
        mine, theirs = socket.socketpair()
        mine.setblocking(False)
        theirs.settimeout(2)
        self.ends.append(theirs)
        return mine

    def read(self):
        """One packet from the client: (first byte, body)."""
        end = self.ends[-1]
        first, length, shift = end.recv(1)[0], 0, 0
        while True:
            byte = end.recv(1)[0]
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        body = b""
        while len(body) < length:
            body += end.recv(length - len(body))
        return first, body

    def send(self, data):
        self.ends[-1].sendall(data)
        self.client.service()

    def connect(self, session_present=False):
        self.client.service()
        first, body = self.read()
        keepalive = self.client.keepalive_ms // 1000
        assert bytes([first, len(body)]) + body == pk.connect("c1", False, keepalive)
        self.send(bytes([0x20, 2, int(session_present), 0]))
        assert self.client.connected


def test_offline_subscribe_and_publish_go_out_after_connack_then_puback_clears():
    s = Scripted()
    s.client.subscribe("cmd/#", 1)
    pid = s.client.publish("evt", b"x", 1)
    assert s.client.state == DOWN and s.client.pending() == [pid]
    s.connect()
    assert s.read() == (0x82, b"\x00\x02\x00\x05cmd/#\x01")   # SUBSCRIBE, fresh session
    assert s.read() == (0x32, b"\x00\x03evt\x00\x01x")          # never sent before: no DUP
    s.send(b"\x40\x02\x00\x01")
    assert s.client.pending() == [] and s.events == ["up"]


def test_unacked_publish_is_retransmitted_with_dup_after_retry_ms():
    s = Scripted(retry_ms=5000)
    s.connect()
    s.client.publish("evt", b"x", 1)
    assert s.read()[0] == 0x32
    s.now = 4999
    s.client.service()
    s.now = 5000
    s.client.service()
    assert s.read() == (0x3A, b"\x00\x03evt\x00\x01x")         # DUP set, same packet id


def test_reconnect_resends_in_flight_with_dup_and_subscribes_again():
    s = Scripted()
    s.client.subscribe("cmd/#", 1)
    s.connect()
    s.read()
    s.send(b"\x90\x03\x00\x01\x01")                              # SUBACK
    pid = s.client.publish("evt", b"x", 1)
    s.read()
    s.ends[-1].close()                                            # the link dies
    s.client.service()
    assert s.client.state == DOWN and s.events == ["up", "down"]
    s.now += 1000                                                 # backoff 1 s (rand at max)
    s.connect(session_present=True)  # kept, but a cluster node may not deliver it: again
    assert s.read()[0] == 0x82
    assert s.read() == (0x3A, b"\x00\x03evt" + pid.to_bytes(2, "big") + b"x")
    s.ends[-1].close()
    s.client.service()
    s.now += 2000
    s.connect(session_present=False)                              # broker lost the session
    assert s.read()[0] == 0x82 and s.read()[0] == 0x3A


def test_a_refused_subscription_is_asked_again_after_retry_ms():
    # NATS refuses some subscriptions (SUBACK 0x80) when it times out making their consumers
    # (a fleet booting, a node just dead): a refused result topic would leave the terminal
    # deaf until it reconnects. Only the refused filters are asked again.
    s = Scripted(retry_ms=5000)
    errors = []
    s.client.on_error = errors.append
    s.client.subscribe("t/a", 1)
    s.client.subscribe("t/b", 1)
    s.connect()
    assert s.read() == (0x82, b"\x00\x01\x00\x03t/a\x01\x00\x03t/b\x01")
    s.send(b"\x90\x04\x00\x01\x01\x80")                          # t/a granted, t/b refused
    assert [str(e) for e in errors] == ["subscription refused"] and s.client._sub_wait
    s.now = 4999
    s.client.service()
    s.now = 5000
    s.client.service()
    assert s.read() == (0x82, b"\x00\x02\x00\x03t/b\x01")          # t/b alone, new packet id
    s.send(b"\x90\x03\x00\x02\x01")
    assert s.client._sub_wait == {} and s.client.connected


def test_a_refused_subscription_dropped_meanwhile_is_not_asked_again():
    s = Scripted(retry_ms=5000)
    s.client.subscribe("t/a", 1)
    s.connect()
    s.read()
    s.send(b"\x90\x03\x00\x01\x80")
    s.client.unsubscribe("t/a")
    assert s.read()[0] == 0xA2                                     # UNSUBSCRIBE
    s.now = 6000
    s.client.service()
    assert s.client._sub_wait == {}
    s.client.publish("evt", b"x", 0)
    assert s.read()[0] == 0x30                                     # no SUBSCRIBE before it


def test_keepalive_ping_and_dead_connection_detection():
    s = Scripted(keepalive=10, ping_timeout_ms=3000)
    s.connect()
    s.now = 9999
    s.client.service()
    s.now = 10000
    s.client.service()
    assert s.read() == (0xC0, b"")                                # PINGREQ
    s.send(b"\xd0\x00")                                           # PINGRESP
    s.now = 20000
    s.client.service()
    assert s.read() == (0xC0, b"")
    s.now = 23000                                                 # no PINGRESP in time
    s.client.service()
    assert s.client.state == DOWN and "PINGRESP" in str(s.client.last_error)


def test_backoff_doubles_with_jitter_up_to_the_maximum():
    s = Scripted(refuse=True, backoff_min_ms=1000, backoff_max_ms=8000)
    attempts = []
    for t in range(0, 40000, 100):
        s.now = t
        s.client.service()
        if s.client.last_error is not None and (not attempts or attempts[-1][1] is not
                                                s.client.last_error):
            attempts.append((t, s.client.last_error))
    gaps = [b[0] - a[0] for a, b in zip(attempts, attempts[1:], strict=False)]
    assert gaps[:5] == [1000, 2000, 4000, 8000, 8000]              # rand at max: wait = d
    low = Scripted(refuse=True)
    low.client._rand = lambda n: 0                                # rand at min: wait = d / 2
    low.client.service()
    low.now = 499
    low.client.service()
    first = low.client.last_error
    low.now = 500
    low.client.service()
    assert low.client.last_error is not first


def test_malformed_input_drops_the_connection_and_a_failing_callback_still_acks():
    s = Scripted()
    s.connect()
    s.client.on_message = lambda t, p: 1 / 0
    s.client.on_error = lambda err: s.events.append(type(err).__name__)
    s.send(b"\x32\x07\x00\x01t\x00\x09hi")                          # QoS 1 PUBLISH, id 9
    assert s.read() == (0x40, b"\x00\x09") and "ZeroDivisionError" in s.events
    s.send(b"\x00\x00")                                           # reserved packet type 0
    assert s.client.state == DOWN and isinstance(s.client.last_error, pk.PacketError)
    assert s.client.state != UP
