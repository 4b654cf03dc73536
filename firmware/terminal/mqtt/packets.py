# MQTT 3.1.1 packets, sans-I/O: encoders return bytes, Decoder.feed() turns received bytes into
# packet tuples. No sockets, no clock, so every byte is testable on both runtimes
# (tests/unit/firmware/test_mqtt_packets.py, tests/micropython/test_mqtt_packet_vectors.py).
#
# Only what a device client needs: it sends CONNECT, SUBSCRIBE, UNSUBSCRIBE, PUBLISH (QoS 0/1),
# PUBACK, PINGREQ, DISCONNECT and receives CONNACK, SUBACK, UNSUBACK, PUBLISH (QoS 0/1), PUBACK,
# PINGRESP. Anything else from the broker is a protocol violation for us: PacketError.
#
# Decoded packets are tuples (cheaper than objects on MicroPython), first item the type:
#   (CONNACK, session_present, return_code)     (PUBACK, packet_id)     (UNSUBACK, packet_id)
#   (SUBACK, packet_id, [granted qos or 0x80])  (PINGRESP,)
#   (PUBLISH, topic_str, payload_bytes, qos, retain, dup, packet_id or None)

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

CONNECT = const(0x10)
CONNACK = const(0x20)
PUBLISH = const(0x30)
PUBACK = const(0x40)
SUBSCRIBE = const(0x80)
SUBACK = const(0x90)
UNSUBSCRIBE = const(0xA0)
UNSUBACK = const(0xB0)
PINGREQ = const(0xC0)
PINGRESP = const(0xD0)
DISCONNECT = const(0xE0)

# Big enough for the terminal's JSON messages and a firmware chunk; a broker (or attacker) that
# announces more would make us allocate it: refused before any allocation.
MAX_PACKET = const(16384)
MAX_REMAINING = const(268435455)  # 4-byte varint limit of the spec

CONNACK_TEXT = ("accepted", "unacceptable protocol version", "client identifier rejected",
                "server unavailable", "bad user name or password", "not authorized")


class PacketError(ValueError):
    """Malformed, unexpected or oversized bytes from the broker. The stream is out of sync after
    this: drop the connection. (Bad arguments to the encoders raise plain ValueError.)"""


def _utf8(text, what):
    data = text.encode() if isinstance(text, str) else bytes(text)
    if len(data) > 65535:
        raise ValueError(what + " longer than 65535 bytes")
    return data


def _check_qos(qos, top):
    if qos not in (0, 1, 2) or qos > top:
        raise ValueError("qos must be 0.." + str(top))


def _start(first_byte, remaining):
    """One allocation per packet: returns (buffer, write position) after the fixed header."""
    if remaining > MAX_REMAINING:
        raise ValueError("packet too large")
    size = 2 if remaining < 128 else 3 if remaining < 16384 else 4 if remaining < 2097152 else 5
    buf = bytearray(size + remaining)
    buf[0] = first_byte
    pos = 1
    while True:
        byte = remaining & 0x7F
        remaining >>= 7
        if remaining:
            buf[pos] = byte | 0x80
            pos += 1
        else:
            buf[pos] = byte
            return buf, pos + 1


def _put16(buf, pos, value):
    buf[pos] = value >> 8
    buf[pos + 1] = value & 0xFF
    return pos + 2


def _put_str(buf, pos, data):
    pos = _put16(buf, pos, len(data))
    buf[pos:pos + len(data)] = data
    return pos + len(data)


def _check_pid(packet_id):
    if not isinstance(packet_id, int) or not 0 < packet_id < 65536:
        raise ValueError("packet id must be 1..65535")


def connect(client_id, clean_session=True, keepalive=0, will_topic=None, will_payload=b"",
            will_qos=0, will_retain=False, username=None, password=None):
    cid = _utf8(client_id, "client id")
    if not cid and not clean_session:
        raise ValueError("an empty client id needs clean_session")  # [MQTT-3.1.3-7]
    if not 0 <= keepalive <= 65535:
        raise ValueError("keepalive must be 0..65535 s")
    if password is not None and username is None:
        raise ValueError("a password needs a user name")  # [MQTT-3.1.2-22]
    flags = 0x02 if clean_session else 0
    fields = [cid]
    if will_topic is not None:
        _check_qos(will_qos, 2)
        flags |= 0x04 | (will_qos << 3) | (0x20 if will_retain else 0)
        fields.append(_utf8(will_topic, "will topic"))
        fields.append(_utf8(will_payload, "will payload"))
    elif will_qos or will_retain:
        raise ValueError("will qos/retain without a will topic")
    if username is not None:
        flags |= 0x80
        fields.append(_utf8(username, "user name"))
    if password is not None:
        flags |= 0x40
        fields.append(_utf8(password, "password"))
    remaining = 10
    for field in fields:
        remaining += 2 + len(field)
    buf, pos = _start(CONNECT, remaining)
    buf[pos:pos + 7] = b"\x00\x04MQTT\x04"  # protocol name, level 4 = 3.1.1
    buf[pos + 7] = flags
    pos = _put16(buf, pos + 8, keepalive)
    for field in fields:
        pos = _put_str(buf, pos, field)
    return bytes(buf)


def publish(topic, payload, qos=0, retain=False, dup=False, packet_id=None):
    """Returns a bytearray so that a retransmission can set the DUP bit in place (set_dup)."""
    name = _utf8(topic, "topic")
    if not name or b"+" in name or b"#" in name:
        raise ValueError("publish topic must be non-empty and without wildcards")
    _check_qos(qos, 1)
    if qos:
        _check_pid(packet_id)
    elif dup or packet_id is not None:
        raise ValueError("QoS 0 has neither DUP nor a packet id")  # [MQTT-3.3.1-2]
    body = payload.encode() if isinstance(payload, str) else payload
    remaining = 2 + len(name) + (2 if qos else 0) + len(body)
    buf, pos = _start(PUBLISH | (0x08 if dup else 0) | (qos << 1) | (1 if retain else 0),
                      remaining)
    pos = _put_str(buf, pos, name)
    if qos:
        pos = _put16(buf, pos, packet_id)
    buf[pos:] = body
    return buf


def set_dup(packet):
    """Marks a stored PUBLISH bytearray as a redelivery."""
    packet[0] |= 0x08
    return packet


def subscribe(packet_id, topics):
    """topics: list of (filter, qos)."""
    _check_pid(packet_id)
    if not topics:
        raise ValueError("subscribe needs at least one topic")  # [MQTT-3.8.3-3]
    items = []
    remaining = 2
    for topic, qos in topics:
        _check_qos(qos, 2)
        name = _utf8(topic, "topic filter")
        if not name:
            raise ValueError("empty topic filter")
        items.append((name, qos))
        remaining += 3 + len(name)
    buf, pos = _start(SUBSCRIBE | 0x02, remaining)  # 0x82: reserved flags 0010 [MQTT-3.8.1-1]
    pos = _put16(buf, pos, packet_id)
    for name, qos in items:
        pos = _put_str(buf, pos, name)
        buf[pos] = qos
        pos += 1
    return bytes(buf)


def unsubscribe(packet_id, topics):
    _check_pid(packet_id)
    if not topics:
        raise ValueError("unsubscribe needs at least one topic")
    names = [_utf8(topic, "topic filter") for topic in topics]
    remaining = 2
    for name in names:
        remaining += 2 + len(name)
    buf, pos = _start(UNSUBSCRIBE | 0x02, remaining)  # 0xA2 [MQTT-3.10.1-1]
    pos = _put16(buf, pos, packet_id)
    for name in names:
        pos = _put_str(buf, pos, name)
    return bytes(buf)


def puback(packet_id):
    _check_pid(packet_id)
    return bytes((PUBACK, 2, packet_id >> 8, packet_id & 0xFF))


def pingreq():
    return b"\xc0\x00"


def disconnect():
    return b"\xe0\x00"


class Decoder:
    """Incremental: feed() any slicing of the stream, get the packets it completes.

    One bytearray per packet (the exact announced size, checked against max_packet first);
    bytes are copied in slices, never one by one, except the 2..5 header bytes."""

    def __init__(self, max_packet=MAX_PACKET):
        self.max_packet = max_packet
        self.reset()

    def reset(self):
        self._first = 0      # first header byte; 0 = waiting for one (type 0 is invalid anyway)
        self._length = 0
        self._shift = 0
        self._body = None    # None while the remaining-length varint is still coming
        self._pos = 0

    def feed(self, data):
        out = []
        i = 0
        n = len(data)
        while i < n:
            if not self._first:
                first = data[i]
                i += 1
                if (first & 0xF0) not in _RECEIVABLE:
                    raise PacketError("unexpected packet type 0x%02x" % first)
                self._first = first
                self._length = 0
                self._shift = 0
                continue
            if self._body is None:
                byte = data[i]
                i += 1
                self._length |= (byte & 0x7F) << self._shift
                self._shift += 7
                if byte & 0x80:
                    if self._shift >= 28:
                        raise PacketError("remaining length longer than 4 bytes")
                    continue
                if self._length > self.max_packet:
                    raise PacketError("packet of %d bytes over the %d-byte limit"
                                      % (self._length, self.max_packet))
                self._body = bytearray(self._length)
                self._pos = 0
            else:
                take = min(n - i, self._length - self._pos)
                self._body[self._pos:self._pos + take] = data[i:i + take]
                i += take
                self._pos += take
            if self._pos == self._length:
                first, body = self._first, self._body
                self._first = 0
                self._body = None
                out.append(parse(first, body))
        return out


def _pid(body, pos):
    pid = (body[pos] << 8) | body[pos + 1]
    if not pid:
        raise PacketError("packet id 0")  # [MQTT-2.3.1-1]
    return pid


def _fixed(first, body, size):
    if first & 0x0F:
        raise PacketError("reserved header flags set in 0x%02x" % first)
    if len(body) != size:
        raise PacketError("packet 0x%02x of %d bytes, expected %d" % (first, len(body), size))


def parse(first, body):
    """One complete packet: first header byte and its body (after the remaining length)."""
    kind = first & 0xF0
    if kind == PUBLISH:
        return _parse_publish(first, body)
    if kind == CONNACK:
        _fixed(first, body, 2)
        if body[0] & 0xFE or body[1] > 5 or (body[0] and body[1]):
            raise PacketError("bad CONNACK flags or return code")  # [MQTT-3.2.2-4]
        return (CONNACK, bool(body[0]), body[1])
    if kind == PINGRESP:
        _fixed(first, body, 0)
        return (PINGRESP,)
    if kind == SUBACK:
        if first & 0x0F or len(body) < 3:
            raise PacketError("bad SUBACK header or length")
        codes = list(body[2:])
        for code in codes:
            if code not in (0, 1, 2, 0x80):
                raise PacketError("bad SUBACK return code %d" % code)
        return (SUBACK, _pid(body, 0), codes)
    _fixed(first, body, 2)  # PUBACK, UNSUBACK
    return (kind, _pid(body, 0))


def _parse_publish(first, body):
    qos = (first >> 1) & 3
    dup = bool(first & 0x08)
    if qos > 1:
        raise PacketError("QoS %d PUBLISH: this client subscribes with QoS 0/1 only" % qos)
    if dup and not qos:
        raise PacketError("DUP set on a QoS 0 PUBLISH")  # [MQTT-3.3.1-2]
    if len(body) < 2:
        raise PacketError("PUBLISH without a topic length")
    end = 2 + ((body[0] << 8) | body[1])
    if end + (2 if qos else 0) > len(body) or end == 2:
        raise PacketError("PUBLISH topic empty or longer than the packet")
    try:
        topic = str(body[2:end], "utf-8")
    except UnicodeError:
        raise PacketError("PUBLISH topic is not UTF-8") from None
    if "+" in topic or "#" in topic or "\x00" in topic:
        raise PacketError("PUBLISH topic with a wildcard or NUL")  # [MQTT-3.3.2-2]
    pid = None
    if qos:
        pid = _pid(body, end)
        end += 2
    return (PUBLISH, topic, bytes(body[end:]), qos, bool(first & 1), dup, pid)


_RECEIVABLE = (CONNACK, PUBLISH, PUBACK, SUBACK, UNSUBACK, PINGRESP)
