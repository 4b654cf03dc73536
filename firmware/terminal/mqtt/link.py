# The connection half of the MQTT client (terminal.mqtt.client): a non-blocking TCP socket,
# plain or TLS, watched with select.poll; bytes out from a queue of packets, bytes in through
# one preallocated buffer into the packet decoder. Nothing here blocks, except getaddrinfo (DNS;
# use an IP or resolve once at boot) and, on a board, the public-key steps of a TLS handshake.
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


def would_block(err):
    return isinstance(err, _WOULD_BLOCK) or (len(err.args) > 0 and err.args[0] in _EAGAIN)


def open_tcp(host, port):
    """Default socket_factory: a non-blocking socket whose connect is under way."""
    family, kind, proto, _, addr = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setblocking(False)
    try:
        sock.connect(addr)
    except OSError as err:
        if not would_block(err):
            sock.close()
            raise
    return sock


class Link:
    """Socket, poller, out queue and read buffer of an MQTTClient (which sets them up)."""

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
        self._sock = self.ssl_context.wrap_socket(
            self._sock, server_hostname=self.server_hostname or self.host,
            do_handshake_on_connect=False)
        self._poller.register(self._sock, select.POLLIN)
        if hasattr(self._sock, "do_handshake"):
            self.state = TLS
        else:
            self._send_connect()

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
                if would_block(err):
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
                if would_block(err):
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
