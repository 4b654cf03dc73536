# What the MicroPython webassembly port lacks for the firmware bench, supplied by the bench
# (bench/firmware_core.py, mode "wasm"; loaded before its baseline, so none of this is counted
# as firmware heap):
#   - no `socket`: an MQTT broker in memory. MemorySocket is a MicroPython stream (io.IOBase:
#     readinto, write, ioctl for select.poll) and the broker end answers CONNECT, SUBSCRIBE,
#     PUBLISH QoS 1, PINGREQ and DISCONNECT at once. The client's own code (link, session,
#     packets) runs unchanged over it through MQTTClient's socket_factory.
#   - no `cryptolib`: AES-128/256 encryption in ECB mode in pure Python (FIPS-197), offered as
#     `cryptolib.aes(key, 1).encrypt`, the only thing protocol/aes.py asks of it. A board's
#     cryptolib is C; this one allocates about as much: per key the round keys (240 bytes at
#     most) and two 16-byte buffers, per block its 16-byte result (80 bytes of heap in all on
#     the wasm32 port), so the sale's garbage stays comparable.
# install() puts them in sys.modules only where the port has no module of that name.

import io
import sys

# ---- an MQTT 3.1.1 broker end, in memory ------------------------------------------------------

_POLL, _POLLIN, _POLLOUT = 3, 0x0001, 0x0004  # MP_STREAM_POLL and its flags


class MemorySocket(io.IOBase):
    """The client's socket; what it writes is answered by the broker end at once."""

    def __init__(self):
        self.inbound = bytearray()   # broker -> client, not yet read
        self._frame = bytearray()    # client -> broker, an incomplete packet
        self.published = 0
        self.shut = False

    # the socket face
    def setsockopt(self, *args):
        pass

    def readinto(self, buf):
        if self.shut:
            return 0
        n = min(len(buf), len(self.inbound))
        if not n:
            return None  # would block
        buf[:n] = self.inbound[:n]
        self.inbound = self.inbound[n:]
        return n

    def write(self, data):
        if self.shut:
            raise OSError(104)  # ECONNRESET
        self._frame.extend(data)
        self._packets()
        return len(data)

    def ioctl(self, request, arg):
        if request == _POLL:
            ready = arg & _POLLOUT
            if self.inbound or self.shut:
                ready |= arg & _POLLIN
            return ready
        return 0

    def close(self):
        self.shut = True

    # the broker end
    def _packets(self):
        while len(self._frame) >= 2:
            size, shift, i = 0, 0, 1
            while True:
                if i >= len(self._frame):
                    return  # the length itself is not all there yet
                byte = self._frame[i]
                size |= (byte & 0x7F) << shift
                shift += 7
                i += 1
                if not byte & 0x80:
                    break
            if len(self._frame) < i + size:
                return
            kind, body = self._frame[0], bytes(self._frame[i:i + size])
            self._frame = self._frame[i + size:]
            self._answer(kind, body)

    def _answer(self, kind, body):
        kind_high = kind >> 4
        if kind_high == 1:        # CONNECT -> CONNACK, no session present
            self.inbound.extend(b"\x20\x02\x00\x00")
        elif kind_high == 8:      # SUBSCRIBE -> SUBACK granting QoS 1 to each filter
            count, at = 0, 2
            while at + 2 <= len(body):
                at += 2 + (body[at] << 8 | body[at + 1]) + 1
                count += 1
            self.inbound.extend(bytes([0x90, 2 + count]) + body[:2] + b"\x01" * count)
        elif kind_high == 3:      # PUBLISH -> PUBACK when QoS 1
            self.published += 1
            if kind & 0x06:
                topic_len = body[0] << 8 | body[1]
                self.inbound.extend(b"\x40\x02" + body[2 + topic_len:4 + topic_len])
        elif kind_high == 12:     # PINGREQ -> PINGRESP
            self.inbound.extend(b"\xd0\x00")
        elif kind_high == 14:     # DISCONNECT
            self.shut = True


def connect(host, port):
    """MQTTClient's socket_factory: a connected MemorySocket (host and port are ignored)."""
    return MemorySocket()


# ---- AES encryption (FIPS-197), for `cryptolib.aes(key, MODE_ECB).encrypt` --------------------

def _xtime(a):
    return ((a << 1) ^ 0x1B) & 0xFF if a & 0x80 else a << 1


def _rotl(x, n):
    return ((x << n) | (x >> (8 - n))) & 0xFF


def _make_sbox():
    box = bytearray(256)
    p = q = 1
    while True:  # p runs over GF(2^8)* by multiplying by 3, q by dividing by 3: q = 1/p
        p ^= _xtime(p)
        q ^= q << 1
        q ^= q << 2
        q ^= q << 4
        q &= 0xFF
        if q & 0x80:
            q ^= 0x09
        x = q ^ _rotl(q, 1) ^ _rotl(q, 2) ^ _rotl(q, 3) ^ _rotl(q, 4)  # the affine map
        box[p] = x ^ 0x63
        if p == 1:
            break
    box[0] = 0x63
    return bytes(box)


SBOX = _make_sbox()
MODE_ECB = 1
MODE_CBC = 2


class aes:  # noqa: N801 (cryptolib's name)
    # Written for the heap, not for speed: no slices, no 4-tuples (MicroPython builds those
    # on the heap), two 16-byte work buffers per key; a block allocates only its result.
    def __init__(self, key, mode, iv=None):
        if mode not in (MODE_ECB, MODE_CBC) or len(key) not in (16, 32):
            raise ValueError("this stand-in does AES-128/256 ECB and CBC only")
        # CBC: the chain goes on from one call to the next, as cryptolib's does.
        self.chain = bytearray(iv) if mode == MODE_CBC else None
        nk = len(key) // 4
        self.rounds = nk + 6
        w = bytearray(16 * (self.rounds + 1))
        w[:len(key)] = key
        rcon = 1
        for i in range(nk, 4 * (self.rounds + 1)):
            p, q = 4 * i, 4 * (i - nk)
            if i % nk == 0:  # RotWord, SubWord, Rcon
                w[p] = w[q] ^ SBOX[w[p - 3]] ^ rcon
                w[p + 1] = w[q + 1] ^ SBOX[w[p - 2]]
                w[p + 2] = w[q + 2] ^ SBOX[w[p - 1]]
                w[p + 3] = w[q + 3] ^ SBOX[w[p - 4]]
                rcon = _xtime(rcon)
            elif nk > 6 and i % nk == 4:  # SubWord (AES-256)
                for j in range(4):
                    w[p + j] = w[q + j] ^ SBOX[w[p - 4 + j]]
            else:
                for j in range(4):
                    w[p + j] = w[q + j] ^ w[p - 4 + j]
        self.w = w
        self.s, self.t = bytearray(16), bytearray(16)

    def encrypt(self, data):
        chain = self.chain
        if chain is None:
            return self._block(data)
        out = bytearray(len(data))
        for at in range(0, len(data), 16):
            for i in range(16):
                chain[i] ^= data[at + i]
            chain[:] = self._block(chain)
            out[at:at + 16] = chain
        return bytes(out)

    def _block(self, block):
        w, box, s, t = self.w, SBOX, self.s, self.t
        for i in range(16):
            s[i] = block[i] ^ w[i]
        for r in range(1, self.rounds + 1):
            for c in range(4):  # SubBytes and ShiftRows: row k of column c from column c+k
                for k in range(4):
                    t[4 * c + k] = box[s[4 * ((c + k) & 3) + k]]
            if r != self.rounds:
                for c in range(0, 16, 4):  # MixColumns
                    a0 = t[c]
                    a1 = t[c + 1]
                    a2 = t[c + 2]
                    a3 = t[c + 3]
                    u = a0 ^ a1 ^ a2 ^ a3
                    t[c] = a0 ^ u ^ _xtime(a0 ^ a1)
                    t[c + 1] = a1 ^ u ^ _xtime(a1 ^ a2)
                    t[c + 2] = a2 ^ u ^ _xtime(a2 ^ a3)
                    t[c + 3] = a3 ^ u ^ _xtime(a3 ^ a0)
            base = 16 * r
            for i in range(16):  # AddRoundKey
                s[i] = t[i] ^ w[base + i]
        return bytes(s)


def install():
    """Register the stand-ins for the modules this port lacks; returns their names."""
    added = []
    for name in ("socket", "cryptolib"):
        try:
            __import__(name)
        except ImportError:
            sys.modules[name] = sys.modules[__name__]
            added.append(name)
    return added
