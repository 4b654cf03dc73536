# MQTT 3.1.1 client for the terminal: non-blocking sockets (plain or TLS) and select.poll, so
# the runtime loop keeps serving keypad and screen. Call service() often (every loop turn); it
# never waits unless given a timeout and only does what the socket allows right now. It
# connects, reconnects with backoff, pings and retransmits by itself; `connected` says whether
# the session is up.
#
# Three files: this one (the API and the connection state machine), link.py (sockets, TLS,
# poll, the bytes in and out; read it for TLS on MicroPython, which checks nothing by default)
# and session.py (what MQTT asks once bytes flow: CONNACK, acks, pings, retransmission,
# backoff). packets.py is the sans-I/O packet codec under all three.
#
# A broker cluster: host is then a list of [host, port], its nodes. The client starts on one
# picked at random (terminals spread over the nodes) and moves to the next after every lost
# or failed connection, after the usual jittered backoff. The session (clean_session=False)
# and the unacknowledged QoS 1 messages go along: the cluster keeps the session, and the
# client resends what the old node did not acknowledge.

import errno
import select
import time

from . import packets as pk
from .link import CLOSED, CONNACK, DOWN, TCP, TLS, UP, Link, MQTTError, open_tcp, would_block
from .session import Session

__all__ = ("MQTTClient", "MQTTError", "open_tcp", "DOWN", "TCP", "TLS", "CONNACK", "UP",
           "CLOSED")


def _default_rand(n):
    import random
    return random.getrandbits(30) % n


class MQTTClient(Session, Link):
    def __init__(self, client_id, host, port=1883, keepalive=30, clean_session=False, will=None,
                 ssl_context=None, server_hostname=None, socket_factory=None, clock=None,
                 rand=None, username=None, password=None, max_packet=pk.MAX_PACKET,
                 max_inflight=16, retry_ms=20000, backoff_min_ms=1000, backoff_max_ms=60000,
                 connect_timeout_ms=10000, ping_timeout_ms=None):
        self.client_id = client_id
        self.nodes = [(host, port)] if isinstance(host, str) else [tuple(n) for n in host]
        self.keepalive_ms = keepalive * 1000
        self.clean_session, self.will = clean_session, will
        self.username, self.password = username, password
        self.ssl_context, self.server_hostname = ssl_context, server_hostname  # None: host
        self.socket_factory = socket_factory or open_tcp
        if clock is None and hasattr(time, "ticks_ms"):
            self._clock, self._diff = time.ticks_ms, time.ticks_diff  # wraps: compare by diff
        else:
            self._clock = clock or (lambda: int(time.monotonic() * 1000))
            self._diff = lambda a, b: a - b
        self._rand = rand or _default_rand
        n = self.nodes
        self.host, self.port = n[self._rand(len(n))] if len(n) > 1 else n[0]
        self.max_inflight, self.retry_ms = max_inflight, retry_ms
        self.backoff_min_ms, self.backoff_max_ms = backoff_min_ms, backoff_max_ms
        self.connect_timeout_ms = connect_timeout_ms
        self.ping_timeout_ms = ping_timeout_ms or min(self.keepalive_ms or 15000, 15000)
        self.on_message = self.on_connect = self.on_disconnect = None
        self.on_puback = self.on_error = None
        self.state, self.connected, self.session_present = DOWN, False, False
        self.last_error, self.connections = None, 0
        self._decoder = pk.Decoder(max_packet)
        self._rbuf = bytearray(512)  # preallocated: reads never allocate
        self._rmv = memoryview(self._rbuf)
        self._sock = self._poller = None
        self._outq, self._out_off = [], 0
        self._inflight = []   # [packet_id, PUBLISH bytearray, sent_at or None], in publish order
        self._subs = {}       # topic filter -> qos: what the session should hold
        self._sub_wait = {}   # packet_id -> topics sent, waiting for SUBACK; 0: refused ones
        self._unsubs = []     # filters to drop at the next connection
        self._pid = 0
        self._attempts, self._wait_from, self._wait_ms = 0, self._clock(), 0
        self._opened_at = self._last_tx = self._last_rx = 0
        self._ping_at = None
        self._in_step, self._mp = False, False

    # ---- API for the runtime -------------------------------------------------------------
    def service(self, timeout_ms=0):
        """Does whatever the connection needs now; waits for input up to timeout_ms (0: never).
        Returns True when bytes moved, so a loop can come back sooner."""
        if timeout_ms:
            self._wait(timeout_ms)
        now = self._clock()
        moved = False
        self._in_step = True  # callbacks may publish: queue only, _step flushes at its end
        try:
            moved = self._step(now)
        except (OSError, ValueError) as err:  # socket, TLS and PacketError: drop and retry later
            self._drop(now, err)
        finally:
            self._in_step = False
        return moved

    def publish(self, topic, payload, qos=1, retain=False):
        """QoS 1: kept until PUBACK (sent later if offline); returns the packet id.
        QoS 0: sent only if connected; returns None."""
        if qos == 0:
            if self.state == UP:
                self._send_now(pk.publish(topic, payload, 0, retain))
            return None
        if len(self._inflight) >= self.max_inflight:
            raise MQTTError("in-flight table full")
        pid = self._next_pid()
        packet = pk.publish(topic, payload, 1, retain, False, pid)
        entry = [pid, packet, None]
        self._inflight.append(entry)
        if self.state == UP:
            entry[2] = self._clock()
            self._send_now(packet)
        return pid

    def subscribe(self, topic, qos=1):
        self._subs[topic] = qos
        if topic in self._unsubs:
            self._unsubs.remove(topic)
        if self.state == UP:
            pid = self._queue_subscribe([topic])
            self._send_now(None)
            return pid
        return None

    def unsubscribe(self, topic):
        self._subs.pop(topic, None)
        if self.state == UP:
            self._send_now(pk.unsubscribe(self._next_pid(), [topic]))
        elif topic not in self._unsubs:
            self._unsubs.append(topic)

    def pending(self):
        """Packet ids of QoS 1 messages not yet acknowledged by the broker."""
        return [entry[0] for entry in self._inflight]

    def disconnect(self):
        """Clean DISCONNECT (the broker drops the will) and no reconnection."""
        if self.state == UP:
            self._outq.append(pk.disconnect())
            try:
                self._flush(self._clock())
            except OSError:
                pass
        self._close()
        self.state = CLOSED

    def reconnect_now(self):
        """Skip the backoff delay, e.g. when Wi-Fi just came back."""
        if self.state in (DOWN, CLOSED):
            self.state, self._attempts, self._wait_ms = DOWN, 0, 0

    # ---- connection state machine ----------------------------------------------------------
    def _step(self, now):
        state = self.state
        if state == CLOSED or state == DOWN and self._diff(now, self._wait_from) < self._wait_ms:
            return False
        if state == DOWN:
            self._open(now)
            state = TCP
        if state != UP and self._diff(now, self._opened_at) > self.connect_timeout_ms:
            raise OSError(errno.ETIMEDOUT, "connect timeout")
        if state == TCP:
            events = 0
            for entry in self._poller.poll(0):
                events |= entry[1]
            if events & (select.POLLERR | select.POLLHUP):
                raise OSError(errno.ECONNREFUSED, "TCP connect failed")
            if not events & select.POLLOUT:
                return False
            self._tcp_connected(now)
        if self.state == TLS:
            try:
                self._sock.do_handshake()
            except OSError as err:
                if would_block(err):
                    return False
                raise
            self._send_connect()
        moved = self._flush(now)
        moved = self._read(now) or moved
        if self.state == UP:
            self._timers(now)
            moved = self._flush(now) or moved
        return moved
