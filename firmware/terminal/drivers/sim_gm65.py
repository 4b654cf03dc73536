# The GM65-family scanner's twin: a module on a UART wire, for the unix port, CPython and the
# tests (terminal.drivers.sim re-exports it). GM65Scanner talks to it as to the real module.

from terminal.drivers.gm65_protocol import (
    BAUD_CODES,
    MODES,
    READ,
    REG_BAUD,
    REG_SETTINGS,
    REG_TAIL,
    REG_TRIGGER,
    SAVE,
    TAIL_MASK,
    TAILS,
    WRITE,
    crc16_xmodem,
)

# What the twin records for tests is bounded: the simulated board runs for hours and every
# diagnostic reads the module's registers again.
FRAMES_KEPT = 32        # accepted frames, the last ones
WRITTEN_KEPT = 512      # bytes from the host, the last ones

_BAUDS = {}  # register value -> speed
for _speed in BAUD_CODES:
    _BAUDS[BAUD_CODES[_speed]] = _speed


def _tail_of(bits):
    for tail in TAILS:
        if TAILS[tail] == bits & TAIL_MASK:
            return tail
    return b""  # tail off (or a value the table does not name)


class SimUART:
    """A GM65-family module on a UART: answers command frames as its manual says (read, write,
    save; a bad CRC or a malformed frame gets no answer; AB CD skips the check), sends scans
    followed by its tail, and talks garbage when the host's speed is not its own.
    The settings byte 0xD6 (continuous mode, light, aimer, sound) is this emulator's choice.
    The tail follows zone bit 0x0060 (scanner_gm65.TAILS); a tail the register cannot say
    (tail=b"\n", a scripted oddity) is sent as given until the host writes the register."""

    def __init__(self, settings=0xD6, tail=b"\r", baud=9600, absent=False, chunk=None):
        self.regs = bytearray(256)
        self.regs[REG_SETTINGS] = settings
        code = BAUD_CODES[baud]
        self.regs[REG_BAUD], self.regs[REG_BAUD + 1] = code & 0xFF, code >> 8
        self.regs[REG_TAIL] = TAILS.get(tail, 0)
        self.flash = bytearray(self.regs)  # what a power cycle comes back to
        self.tail, self.absent, self.chunk = tail, absent, chunk
        self.host_baud = 9600
        self.module_baud = baud
        self.rx = bytearray()  # module -> host, not yet read
        self.written = bytearray()  # host -> module, the last WRITTEN_KEPT bytes
        self.frames = []  # (type, address, data) of the last FRAMES_KEPT accepted frames
        self.bad_frames = 0
        self.pending = []  # scans waiting for a trigger (command mode)
        self._cmd = bytearray()

    # -- the host side: what machine.UART offers
    def init(self, baudrate=9600, **_):
        self.host_baud = baudrate

    def any(self):
        return min(len(self.rx), self.chunk) if self.chunk else len(self.rx)

    def read(self, n=None):
        if not self.rx:
            return None
        n = len(self.rx) if n is None else n
        if self.chunk:
            n = min(n, self.chunk)
        out, self.rx = bytes(self.rx[:n]), self.rx[n:]
        return out

    def write(self, data):
        self.written.extend(data)
        if len(self.written) > WRITTEN_KEPT:
            self.written = self.written[-WRITTEN_KEPT:]
        if not self.absent:
            if self.host_baud != self.module_baud:
                self._cmd = bytearray()  # the module hears noise: nothing it can parse
            else:
                self._cmd.extend(data)
                self._parse()
        return len(data)

    # -- the module side
    def _send(self, data):
        if self.host_baud != self.module_baud:
            data = b"\xfe" * len(data)  # what a wrong speed looks like to the host
        self.rx.extend(data)

    def feed(self, raw):
        """Scripted bytes from the module, as they are."""
        self.rx.extend(raw)

    def scan(self, text):
        """A code in front of the reader: sent now, or on the next trigger in command mode."""
        if self.absent:
            return
        data = text.encode() if isinstance(text, str) else bytes(text)
        if self.regs[REG_SETTINGS] & 0x03 == MODES["command"]:
            self.pending.append(data)
        else:
            self._send(data + self.tail)

    def power_cycle(self):
        self.regs = bytearray(self.flash)
        self.tail = _tail_of(self.regs[REG_TAIL])
        self.module_baud = _BAUDS.get(self.regs[REG_BAUD] | self.regs[REG_BAUD + 1] << 8, 9600)
        self._cmd = bytearray()

    def _reply(self, data):
        body = bytes([0, len(data) & 0xFF]) + bytes(data)
        crc = crc16_xmodem(body)
        self._send(b"\x02\x00" + body + bytes([crc >> 8, crc & 0xFF]))

    def _parse(self):
        while True:
            start = self._cmd.find(b"\x7e\x00")
            if start < 0:
                self._cmd = self._cmd[-1:] if self._cmd[-1:] == b"\x7e" else bytearray()
                return
            buf = self._cmd = self._cmd[start:]
            if len(buf) < 7:
                return
            kind, count = buf[2], buf[3] or 256
            size = 2 + 4 + (count if kind == WRITE else 1) + 2
            if kind not in (READ, WRITE, SAVE) or (kind != WRITE and buf[3] != 1):
                self.bad_frames += 1
                self._cmd = buf[2:]
                continue
            if len(buf) < size:
                return
            frame, self._cmd = bytes(buf[:size]), buf[size:]
            crc = frame[-2] << 8 | frame[-1]
            if frame[-2:] != b"\xab\xcd" and crc != crc16_xmodem(frame[2:-2]):
                self.bad_frames += 1  # the manual: a wrong CRC gets no reply
                continue
            self._execute(kind, frame[4] << 8 | frame[5], frame[6:-2])

    def _execute(self, kind, address, data):
        self.frames.append((kind, address, bytes(data)))
        if len(self.frames) > FRAMES_KEPT:
            del self.frames[0]
        if kind == READ:
            count = data[0] or 256
            if address + count > len(self.regs):
                self.bad_frames += 1  # outside the zone bits: no answer
                return
            self._reply(self.regs[address:address + count])
            return
        if kind == SAVE:
            self.flash = bytearray(self.regs)
            self._reply(b"\x00")
            return
        for i in range(len(data)):
            if address + i < len(self.regs):
                self.regs[address + i] = data[i]
        self._reply(b"\x00")  # 02 00 00 01 00 33 31
        if address <= REG_TAIL < address + len(data):
            self.tail = _tail_of(self.regs[REG_TAIL])
        if address <= REG_BAUD + 1 and address + len(data) > REG_BAUD:
            code = self.regs[REG_BAUD] | self.regs[REG_BAUD + 1] << 8
            self.module_baud = _BAUDS.get(code, self.module_baud)  # after the reply
        if address == REG_TRIGGER and data[0] & 1:
            self.regs[REG_TRIGGER] = 0
            if self.pending:
                self._send(self.pending.pop(0) + self.tail)
