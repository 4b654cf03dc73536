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
# The tail ("end mark") sits in zone bit 0x0060 of the GM65 list (manual section 8.5): bit 7
# adds it, bits 6-5 choose it (00 CR, 01 CRLF, 10 TAB). scanner_gm65 writes the tail the host
# cuts lines on and reads it back. That location is board data (board spec "tail": (register,
# mask, {terminator: bits})): a module whose map differs is set without a code change, and
# the bring-up read-back in docs/firmware.md confirms it on the bench.
#
# This file is the protocol, pure (no I/O); scanner_gm65.py drives a module with it.

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

READ = const(0x07)
WRITE = const(0x08)
SAVE = const(0x09)
REG_SETTINGS = const(0x0000)  # bits 1-0: 00 manual, 01 command, 10 continuous, 11 sensor
REG_TRIGGER = const(0x0002)  # write 01: one scan (command mode)
REG_BAUD = const(0x002A)  # two bytes, low byte first
REG_TAIL = const(0x0060)
TAIL_MASK = const(0xE0)  # bit 7 on, bits 6-5 which tail
TAILS = {b"\r": 0x80, b"\r\n": 0xA0, b"\t": 0xC0}  # what the host cuts on -> register bits
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
