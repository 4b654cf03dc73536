# The session half of the MQTT client (terminal.mqtt.client): what MQTT 3.1.1 asks of a
# client once bytes flow. CONNECT and CONNACK (subscriptions restored, unacknowledged QoS 1
# messages resent in order with DUP), incoming packets, keepalive pings, retransmission of
# QoS 1 after retry_ms, packet ids, reconnection backoff with jitter (then the next node of a
# cluster), the app's callbacks.

import errno

from . import packets as pk
from .link import CONNACK, DOWN, UP, MQTTError


class Session:
    """Protocol state of an MQTTClient (which sets it up)."""

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
        # Every subscription again, even when the broker kept the session: on a cluster, a
        # session that moved to another node can keep a subscription that delivers nothing
        # (seen on NATS after a node died: its results and configuration piled up unsent);
        # subscribing again makes the node deliver it, retained configuration included.
        self._sub_wait = {}
        if self._subs:
            self._queue_subscribe(list(self._subs))
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
        n = self.nodes  # a cluster: the next node (a dead one refuses at once, and is passed)
        self.host, self.port = n[(n.index((self.host, self.port)) + 1) % len(n)]
        if was_up:
            self._call(self.on_disconnect)

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
            topics = self._sub_wait.pop(packet[1], None)
            if 0x80 in packet[2]:
                # Asked again after retry_ms: a cluster node can refuse one for a while (NATS
                # times out making its consumer when a fleet boots or a node has just died),
                # and a refused result or configuration topic would leave the terminal deaf.
                # Packet id 0 is never used: its entry holds (refused at, topics to ask again).
                codes = packet[2]  # one per filter sent, in order
                again = [t for i, t in enumerate(topics or ()) if i < len(codes) and
                         codes[i] == 0x80]
                earlier = self._sub_wait.get(0)  # refused before, not yet asked again
                self._sub_wait[0] = (now, (earlier[1] if earlier else []) + again)
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
        again = self._sub_wait.get(0)
        if again and self._diff(now, again[0]) >= self.retry_ms:
            del self._sub_wait[0]
            again = [t for t in again[1] if t in self._subs]  # not dropped meanwhile
            if again:
                self._queue_subscribe(again)
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
