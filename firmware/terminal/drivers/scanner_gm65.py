# UART QR scanner modules of the GM65 / GM805 / GM861 family (Hangzhou Grow) and Waveshare's
# Barcode Scanner Module: they share one serial protocol. Sources: Grow GM65 user manual V1.3,
# chapter 8 "Serial port instruction" (read, write and save "zone bits", the CRC, the worked
# examples used in the tests); Grow's GM65/GM66 serial guide (the CRC covers type..data, and
# AB CD in place of the CRC means "no check"); Waveshare Barcode Scanner Module manual,
# appendix B (baud rate register 0x002A, low byte first: 9600 -> 39 01).
#
#   to the module:  7E 00 | type | len | addrH addrL | data | crcH crcL
#       type 07 read (len 01, data = how many bytes), 08 write (len = data bytes),
#       09 save to flash (address 0000, data 00)
#   reply:          02 00 | 00 (success) | len (00 = 256) | data | crcH crcL
#   CRC-16/XMODEM: poly 0x1021, init 0, MSB first, no final xor (binascii has no crc_hqx on
#   MicroPython, hence computed here). A wrong CRC or a malformed command gets no reply.
# Scanned text arrives on the same line: decoded text then the tail (CR by default, 9600 8N1).
#
# Pure protocol part first (no I/O), then GM65Scanner on any object with read/write/any
# (a machine.UART on the board, SimUART from sim.py elsewhere).

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

from terminal.drivers import sleep_ms, ticks_diff, ticks_ms

READ = const(0x07)
WRITE = const(0x08)
SAVE = const(0x09)
REG_SETTINGS = const(0x0000)  # bits 1-0: 00 manual, 01 command, 10 continuous, 11 sensor
REG_TRIGGER = const(0x0002)  # write 01: one scan (command mode)
REG_BAUD = const(0x002A)  # two bytes, low byte first
MODES = {"manual": 0, "command": 1, "continuous": 2, "sensor": 3}
BAUD_CODES = {1200: 0x09C4, 4800: 0x0271, 9600: 0x0139, 14400: 0x00D0, 19200: 0x009C,
              38400: 0x004E, 57600: 0x0034, 115200: 0x001A}
NO_CHECK = b"\xab\xcd"
MAX_REPLY = const(262)  # 02 00 type len + 256 data + crc

OK = "ok"
FAULT = "fault"
ABSENT = "absent"


class ScannerError(Exception):
    pass


def crc16_xmodem(data, crc=0):
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def build_frame(kind, address, data, check=True):
    """A command frame; check=False puts AB CD where the CRC goes (the module skips the check)."""
    if kind not in (READ, WRITE, SAVE):
        raise ScannerError("unknown command type")
    if not 0 <= address <= 0xFFFF or not 1 <= len(data) <= 256:
        raise ScannerError("bad address or data length")
    body = bytes([kind, len(data) & 0xFF, address >> 8, address & 0xFF]) + bytes(data)
    if check:
        crc = crc16_xmodem(body)
        return b"\x7e\x00" + body + bytes([crc >> 8, crc & 0xFF])
    return b"\x7e\x00" + body + NO_CHECK


def read_frame(address, count=1, check=True):
    if not 1 <= count <= 256:
        raise ScannerError("read 1 to 256 bytes")
    return build_frame(READ, address, bytes([count & 0xFF]), check)


def write_frame(address, data, check=True):
    return build_frame(WRITE, address, data, check)


def save_frame(check=True):
    return build_frame(SAVE, 0, b"\x00", check)


def trigger_frame(check=True):
    return write_frame(REG_TRIGGER, b"\x01", check)


def baud_frame(baud, check=True):
    code = BAUD_CODES.get(baud)
    if code is None:
        raise ScannerError("unsupported baud rate %s" % baud)
    return write_frame(REG_BAUD, bytes([code & 0xFF, code >> 8]), check)


def parse_reply(buf, start=0):
    """Reply at buf[start:] -> (type, data, end) or None while incomplete.

    Raises ScannerError when those bytes cannot be a reply (head or CRC wrong)."""
    have = len(buf) - start
    if (have > 0 and buf[start] != 0x02) or (have > 1 and buf[start + 1] != 0x00):
        raise ScannerError("not a reply")
    if have < 4:
        return None
    end = start + 4 + (buf[start + 3] or 256) + 2
    if len(buf) < end:
        return None
    body = bytes(buf[start + 2:end - 2])
    if crc16_xmodem(body) != (buf[end - 2] << 8 | buf[end - 1]):
        raise ScannerError("reply CRC mismatch")
    return body[0], body[2:], end


def clean_line(line):
    """Scanned bytes -> text: stray CR/LF at the edges go (a module set to CRLF while we cut on
    CR), bytes outside printable ASCII become '?' so a damaged code fails its check character."""
    raw = bytes(line).strip(b"\r\n\x00 ")
    for byte in raw:
        if byte < 0x20 or byte > 0x7E:
            return "".join([chr(b) if 0x20 <= b <= 0x7E else "?" for b in raw])
    return raw.decode()


class LineAssembler:
    """Bytes in, whole lines out; a line longer than max_line is dropped whole (counted)."""

    def __init__(self, terminator=b"\r", max_line=256):
        self.max_line = max_line
        self.overflows = 0
        self._buf = bytearray()
        self._skipping = False
        self.set_terminator(terminator)

    def set_terminator(self, terminator):
        if not terminator:
            raise ScannerError("empty terminator")
        self.terminator = bytes(terminator)

    def reset(self):
        self._buf, self._skipping = bytearray(), False

    def feed(self, chunk):
        out = []
        self._buf.extend(chunk)
        term = self.terminator
        while True:
            i = self._buf.find(term)
            if i < 0:
                break
            line = self._buf[:i]
            self._buf = self._buf[i + len(term):]
            if self._skipping or len(line) > self.max_line:
                if not self._skipping:
                    self.overflows += 1
                self._skipping = False
                continue
            text = clean_line(line)
            if text:
                out.append(text)
        slack = len(term) - 1  # a terminator may be cut between two chunks
        if len(self._buf) > self.max_line + slack:
            if not self._skipping:
                self.overflows += 1
                self._skipping = True
            self._buf = self._buf[len(self._buf) - slack:] if slack else bytearray()
        return out


class ScannerStream:
    """Splits what the module sends into command replies and scanned lines."""

    def __init__(self, terminator=b"\r", max_line=256):
        self.lines = LineAssembler(terminator, max_line)
        self.replies = []
        self.hold = b""  # bytes that may be the start of a reply

    def feed(self, chunk):
        buf = self.hold + bytes(chunk)
        self.hold = b""
        text = bytearray()
        i = 0
        while i < len(buf):
            j = buf.find(b"\x02", i)
            if j < 0:
                text.extend(buf[i:])
                break
            text.extend(buf[i:j])
            try:
                reply = parse_reply(buf, j)
            except ScannerError:
                text.append(0x02)  # not a reply: plain data (becomes '?' in a line)
                i = j + 1
                continue
            if reply is None:
                self.hold = buf[j:]
                break
            self.replies.append((reply[0], reply[1]))
            i = reply[2]
        del self.replies[:-4]  # nobody waits for old replies: keep memory bounded
        return self.lines.feed(text)

    def flush(self):
        """The held bytes never completed a reply: they were data after all."""
        held, self.hold = self.hold, b""
        if not held:
            return []
        return self.lines.feed(held[:1]) + self.feed(held[1:])


class GM65Scanner:
    """The scanner behind the terminal's interface: configure() at boot, poll() in the loop."""

    def __init__(self, uart, terminator=b"\r", max_line=256, mode="sensor", baud=9600,
                 check=True, save=True, timeout_ms=300, set_baud=None, clock=None, sleep=None):
        if mode not in MODES:
            raise ScannerError("unknown mode %s" % mode)
        self.uart, self.mode, self.baud = uart, mode, baud
        self.check_crc, self.save, self.timeout_ms = check, save, timeout_ms
        self.stream = ScannerStream(terminator, max_line)
        self.state, self.error, self.settings = ABSENT, None, None
        # Changing speed needs the host side to follow: uart.init(baudrate=) on machine.UART.
        self._set_baud = set_baud
        if set_baud is None and hasattr(uart, "init"):
            self._set_baud = self._uart_baud
        self._clock, self._sleep = clock or ticks_ms, sleep or sleep_ms
        self._queue = []
        self._last_rx = self._clock()

    def _uart_baud(self, baud):
        self.uart.init(baudrate=baud)

    def configure(self, baud=None, terminator=None):
        """Find the module, set its mode and speed, save if anything changed, read back.

        `terminator` is what lines are cut on here. The module's own tail is left as it is
        (CR from the factory): the manuals at hand set it with setup barcodes and did not
        confirm its register, so it is not written blind; a CRLF module still works."""
        if terminator is not None:
            self.stream.lines.set_terminator(terminator)
        target = baud or self.baud
        if target not in BAUD_CODES:
            raise ScannerError("unsupported baud rate %s" % target)
        self.baud = target
        found = None
        # The module talks at the speed it saved last: ours if configured before, else 9600.
        for speed in (target, 9600) if self._set_baud and target != 9600 else (target,):
            if self._set_baud:
                self._set_baud(speed)
            try:
                self.settings = self._read_settings()
            except (ScannerError, OSError) as err:
                return self._fail(FAULT, err)
            if self.settings is not None:
                found = speed
                break
        if found is None:
            return self._fail(ABSENT, "no reply from the scanner")
        try:
            changed = False
            want = (self.settings & 0xFC) | MODES[self.mode]
            if want != self.settings:
                self._expect(self._command(write_frame(REG_SETTINGS, bytes([want]),
                                                       self.check_crc)))
                changed = True
            if found != target:
                self._expect(self._command(baud_frame(target, self.check_crc)))
                self._set_baud(target)
                changed = True
            if changed and self.save:
                self._expect(self._command(save_frame(self.check_crc)))
        except (ScannerError, OSError) as err:
            return self._fail(FAULT, err)
        state = self.check()
        # Noise from the speed search must not become the start of the first scanned line.
        self.stream.lines.reset()
        self.stream.hold, self._queue = b"", []
        return state

    def check(self):
        """Read the settings register back: the module answers, with the mode we set."""
        try:
            settings = self._read_settings()
        except (ScannerError, OSError) as err:
            return self._fail(FAULT, err)
        if settings is None:
            return self._fail(ABSENT, "no reply from the scanner")
        if settings & 0x03 != MODES[self.mode]:
            return self._fail(FAULT, "scanner mode is %d" % (settings & 0x03))
        self.settings, self.state, self.error = settings, OK, None
        return OK

    def _fail(self, state, err):
        self.state, self.error = state, str(err)
        return state

    def _expect(self, data):
        if data is None:
            raise ScannerError("no reply to a command")

    def _read_settings(self):
        data = self._command(read_frame(REG_SETTINGS, 1, self.check_crc))
        if data is not None and len(data) != 1:
            raise ScannerError("settings reply has %d bytes" % len(data))
        return None if data is None else data[0]

    def _command(self, frame):
        """Send one frame, wait for its reply's data; None after timeout_ms of silence."""
        self._pump()
        self.stream.replies = []  # a late trigger acknowledgement is not this answer
        self.uart.write(frame)
        start = self._clock()
        while True:
            self._pump()
            if self.stream.replies:
                kind, data = self.stream.replies.pop(0)
                if kind != 0:
                    raise ScannerError("scanner refused the command (type %d)" % kind)
                return data
            if ticks_diff(self._clock(), start) >= self.timeout_ms:
                return None
            self._sleep(5)

    def _pump(self):
        waiting = self.uart.any()
        data = self.uart.read(waiting) if waiting else None
        if data:
            self._last_rx = self._clock()
            self._queue.extend(self.stream.feed(data))
        elif self.stream.hold and ticks_diff(self._clock(), self._last_rx) > self.timeout_ms:
            self._queue.extend(self.stream.flush())
        if len(self._queue) > 4:
            del self._queue[:-4]  # a burst of scans: the last ones matter

    def poll(self):
        """The next scanned line, or None. Never raises: a dead UART marks the state fault."""
        try:
            self._pump()
        except Exception as err:  # OSError on the board; any driver fault must not stop the loop
            self._fail(FAULT, err)
            return None
        if self.stream.replies:
            self.stream.replies = []  # trigger acknowledgements: nobody waits for them
        return self._queue.pop(0) if self._queue else None

    def trigger(self):
        """One scan now (command mode); the acknowledgement is swallowed by poll()."""
        try:
            self.uart.write(trigger_frame(self.check_crc))
        except Exception as err:
            self._fail(FAULT, err)

    def status(self):
        return {"state": self.state, "error": self.error, "mode": self.mode,
                "baud": self.baud, "overflows": self.stream.lines.overflows}
