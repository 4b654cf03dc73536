# MQTT 3.1.1 client for the terminal: non-blocking sockets (plain or TLS) and select.poll, so
# the runtime loop keeps serving keypad and screen. Call service() often (every loop turn, or
# `await client.run()` in an asyncio loop); it never waits unless given a timeout and only does
# what the socket allows right now. It connects, reconnects with backoff, pings and retransmits
# by itself; `connected` says whether the session is up.
#
# What service() cannot make non-blocking: getaddrinfo (DNS; use an IP or resolve once at boot)
# and, on a board, the TLS handshake's public-key steps (tens to hundreds of ms each on ESP32).
#
# TLS on MicroPython (1.29, mbedtls), unlike CPython, checks NOTHING by default:
#   ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
#   ctx.load_cert_chain(cert_der, key_der)       # device certificate + key, DER bytes or paths
#   ctx.load_verify_locations(cadata=ca_der)     # the fleet CA, DER
#   ctx.verify_mode = ssl.CERT_REQUIRED          # must be set explicitly (default CERT_NONE)
#   MQTTClient(..., ssl_context=ctx, server_hostname="broker.example")  # name checked vs cert
# Certificate dates are checked too, so the clock must be synced (NTP) before connecting.
# SSLSocket has no settimeout: hence non-blocking sockets and poll, which also work on it.

import errno
import select
import socket
import time

from . import packets as pk

try:
    from ssl import SSLWantReadError, SSLWantWriteError  # CPython's non-blocking TLS signals
    _WOULD_BLOCK = (SSLWantReadError, SSLWantWriteError)
except ImportError:  # MicroPython: read/write return None instead
    _WOULD_BLOCK = ()

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

DOWN = const(0)      # no socket; next attempt once the backoff delay has passed
TCP = const(1)       # non-blocking TCP connect in progress
TLS = const(2)       # CPython only: explicit TLS handshake (MicroPython does it inside write)
CONNACK = const(3)   # CONNECT queued, waiting for CONNACK
UP = const(4)
CLOSED = const(5)    # disconnect() called: no reconnection until reconnect_now()

_EAGAIN = (errno.EAGAIN, errno.EINPROGRESS, getattr(errno, "EWOULDBLOCK", errno.EAGAIN))
# Linux and lwIP share these numbers; the MicroPython unix port does not export the names.
_IPPROTO_TCP = getattr(socket, "IPPROTO_TCP", 6)
_TCP_NODELAY = getattr(socket, "TCP_NODELAY", 1)


class MQTTError(Exception):
    pass


def _would_block(err):
    return isinstance(err, _WOULD_BLOCK) or (len(err.args) > 0 and err.args[0] in _EAGAIN)


def open_tcp(host, port):
    """Default socket_factory: a non-blocking socket whose connect is under way."""
    family, kind, proto, _, addr = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setblocking(False)
    try:
        sock.connect(addr)
    except OSError as err:
        if not _would_block(err):
            sock.close()
            raise
    return sock


def _default_rand(n):
    import random
    return random.getrandbits(30) % n


class MQTTClient:
    def __init__(self, client_id, host, port=1883, keepalive=30, clean_session=False, will=None,
                 ssl_context=None, server_hostname=None, socket_factory=None, clock=None,
                 rand=None, username=None, password=None, max_packet=pk.MAX_PACKET,
                 max_inflight=16, retry_ms=20000, backoff_min_ms=1000, backoff_max_ms=60000,
                 connect_timeout_ms=10000, ping_timeout_ms=None):
        self.client_id, self.host, self.port = client_id, host, port
        self.keepalive_ms = keepalive * 1000
        self.clean_session, self.will = clean_session, will
        self.username, self.password = username, password
        self.ssl_context, self.server_hostname = ssl_context, server_hostname or host
        self.socket_factory = socket_factory or open_tcp
        if clock is None and hasattr(time, "ticks_ms"):
            self._clock, self._diff = time.ticks_ms, time.ticks_diff  # wraps: compare by diff
        else:
            self._clock = clock or (lambda: int(time.monotonic() * 1000))
            self._diff = lambda a, b: a - b
        self._rand = rand or _default_rand
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
        self._sub_wait = {}   # packet_id -> topics sent, waiting for SUBACK
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

    async def run(self, idle_ms=20):
        """For an asyncio/uasyncio loop: service() between the other tasks."""
        import asyncio
        while self.state != CLOSED:
            busy = self.service()
            await asyncio.sleep(0 if busy else idle_ms / 1000)

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
                if _would_block(err):
                    return False
                raise
            self._send_connect()
        moved = self._flush(now)
        moved = self._read(now) or moved
        if self.state == UP:
            self._timers(now)
            moved = self._flush(now) or moved
        return moved

    def _open(self, now):
        self._opened_at = now
        sock = self.socket_factory(self.host, self.port)
        try:  # Nagle would hold small packets ~40 ms waiting for the broker's delayed ACK
            sock.setsockopt(_IPPROTO_TCP, _TCP_NODELAY, 1)
        except (OSError, AttributeError, TypeError):
            pass
        self._sock = sock
        self._poller = select.poll()
        self._poller.register(sock, select.POLLOUT)
        self.state = TCP

    def _tcp_connected(self, now):
        if self.ssl_context is None:
            self._send_connect()
            return
        self._poller.unregister(self._sock)
        self._sock = self.ssl_context.wrap_socket(self._sock, server_hostname=self.server_hostname,
                                                  do_handshake_on_connect=False)
        self._poller.register(self._sock, select.POLLIN)
        if hasattr(self._sock, "do_handshake"):
            self.state = TLS
        else:
            self._send_connect()

    def _send_connect(self):
        will = self.will or (None, b"", 0, False)
        self._outq = [pk.connect(self.client_id, self.clean_session,
                                     self.keepalive_ms // 1000, will[0], will[1], will[2],
                                     will[3], self.username, self.password)]
        self._mp = hasattr(self._sock, "readinto")  # MicroPython streams vs CPython sockets
        self.state = CONNACK

    def _connack(self, now, session_present, code):
        if code:
            text = pk.CONNACK_TEXT[code] if code < len(pk.CONNACK_TEXT) else str(code)
            raise OSError(errno.ECONNREFUSED, "CONNACK refused: " + text)
        self.state, self.connected = UP, True
        self.session_present = session_present
        self._attempts, self._ping_at, self._last_rx = 0, None, now
        self.connections += 1
        if session_present:  # the broker kept our subscriptions; resend only unconfirmed ones
            topics = [t for pids in self._sub_wait.values() for t in pids if t in self._subs]
        else:
            topics = list(self._subs)
        self._sub_wait = {}
        if topics:
            self._queue_subscribe(topics)
        if self._unsubs:
            self._outq.append(pk.unsubscribe(self._next_pid(), self._unsubs))
            self._unsubs = []
        for entry in self._inflight:  # [MQTT-4.4.0-1]: resend unacknowledged, in order, DUP
            if entry[2] is not None:
                pk.set_dup(entry[1])
            entry[2] = now
            self._outq.append(entry[1])
        self._call(self.on_connect)

    def _drop(self, now, err):
        was_up = self.connected
        self._close()
        self.last_error = err
        self.state = DOWN
        # Exponential backoff with "equal jitter" (wait in [d/2, d]): a broker restart does not
        # bring a thousand terminals back in the same millisecond.
        delay = min(self.backoff_max_ms, self.backoff_min_ms << min(self._attempts, 16))
        self._attempts += 1
        self._wait_from, self._wait_ms = now, delay // 2 + self._rand(delay // 2 + 1)
        if was_up:
            self._call(self.on_disconnect)

    def _close(self):
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock = self._poller = None
        self.connected = False
        self._outq, self._out_off = [], 0
        self._decoder.reset()

    # ---- I/O ---------------------------------------------------------------------------------
    def _wait(self, timeout_ms):
        if self._poller is None:  # nothing to wait on: sleep until the next attempt at most
            left = self._wait_ms - self._diff(self._clock(), self._wait_from)
            ms = max(0, min(timeout_ms, left))
            if ms:
                time.sleep(ms / 1000)
            return
        if getattr(self._sock, "pending", None) and self._sock.pending():
            return  # CPython TLS: decrypted bytes wait in the SSL object, poll cannot see them
        mask = select.POLLIN
        if self._outq or self.state == TCP:
            mask |= select.POLLOUT
        self._poller.modify(self._sock, mask)
        self._poller.poll(timeout_ms)

    def _send_now(self, packet):
        if packet is not None:
            self._outq.append(packet)
        if self._in_step:
            return
        now = self._clock()
        try:
            self._flush(now)
        except OSError as err:
            self._drop(now, err)

    def _flush(self, now):
        moved = False
        while self._outq and self.state >= CONNACK:
            packet = self._outq[0]
            try:
                if self._mp:
                    n = self._sock.write(memoryview(packet)[self._out_off:])
                else:
                    n = self._sock.send(memoryview(packet)[self._out_off:])
            except OSError as err:
                if _would_block(err):
                    return moved
                raise
            if not n:  # MicroPython: None = would block (also during the TLS handshake)
                return moved
            moved = True
            self._last_tx = now
            self._out_off += n
            if self._out_off >= len(packet):
                self._outq.pop(0)
                self._out_off = 0
        return moved

    def _read(self, now):
        moved = False
        for _ in range(8):  # until would-block, but bounded: the keypad waits meanwhile
            try:
                n = self._sock.readinto(self._rbuf) if self._mp else \
                    self._sock.recv_into(self._rbuf)
            except OSError as err:
                if _would_block(err):
                    return moved
                raise
            if n is None:
                return moved
            if n == 0:
                raise OSError(errno.ECONNRESET, "connection closed by the broker")
            moved = True
            self._last_rx = now
            for packet in self._decoder.feed(self._rmv[:n]):
                self._handle(now, packet)
        return moved

    def _handle(self, now, packet):
        kind = packet[0]
        if self.state == CONNACK:
            if kind != pk.CONNACK:
                raise pk.PacketError("packet before CONNACK")  # [MQTT-3.2.0-1]
            self._connack(now, packet[1], packet[2])
        elif kind == pk.PUBLISH:
            self._call(self.on_message, packet[1], packet[2])
            if packet[3]:  # acknowledged even if the callback failed: a poison message must
                self._outq.append(pk.puback(packet[6]))  # not come back forever
        elif kind == pk.PUBACK:
            for i, entry in enumerate(self._inflight):
                if entry[0] == packet[1]:
                    del self._inflight[i]
                    self._call(self.on_puback, packet[1])
                    break
        elif kind == pk.SUBACK:
            self._sub_wait.pop(packet[1], None)
            if 0x80 in packet[2]:
                self._call(self.on_error, MQTTError("subscription refused"))
        elif kind == pk.PINGRESP:
            self._ping_at = None
        elif kind == pk.CONNACK:
            raise pk.PacketError("second CONNACK")

    def _timers(self, now):
        if self._ping_at is not None:
            if self._diff(now, self._ping_at) >= self.ping_timeout_ms:
                raise OSError(errno.ETIMEDOUT, "no PINGRESP: connection dead")
        elif self.keepalive_ms and (self._diff(now, self._last_tx) >= self.keepalive_ms or
                                    self._diff(now, self._last_rx) >= self.keepalive_ms):
            self._ping_at = now
            self._outq.append(pk.pingreq())
        if self._outq:  # still writing: a retransmission would queue the same buffer twice
            return
        for entry in self._inflight:
            if self._diff(now, entry[2]) >= self.retry_ms:
                entry[2] = now
                self._outq.append(pk.set_dup(entry[1]))

    def _queue_subscribe(self, topics):
        pid = self._next_pid()
        self._sub_wait[pid] = topics
        self._outq.append(pk.subscribe(pid, [(t, self._subs[t]) for t in topics]))
        return pid

    def _next_pid(self):
        while True:
            self._pid = self._pid % 65535 + 1
            if self._pid not in self._sub_wait and \
                    not any(entry[0] == self._pid for entry in self._inflight):
                return self._pid

    def _call(self, callback, *args):
        if callback is None:
            return
        try:
            callback(*args)
        except Exception as err:  # the app's bug must not kill the link
            if callback is not self.on_error and self.on_error is not None:
                self._call(self.on_error, err)
            else:
                print("mqtt callback error:", repr(err))
