# GM65-family UART scanner (GM65 / GM805 / GM861, Waveshare's module): the driver. The
# serial protocol (frames, CRC, replies, zone bits, line assembly) is gm65_protocol.py, whose
# names are importable from here too. GM65Scanner runs on any object with read/write/any:
# a machine.UART on the board, SimUART from sim.py elsewhere.

from terminal.drivers import sleep_ms, ticks_diff, ticks_ms
from terminal.drivers.gm65_protocol import (  # noqa: F401 (the protocol's names, here too)
    ABSENT,
    BAUD_CODES,
    FAULT,
    MAX_REPLY,
    MODES,
    NO_CHECK,
    OK,
    READ,
    REG_BAUD,
    REG_SETTINGS,
    REG_TAIL,
    REG_TRIGGER,
    SAVE,
    TAIL_MASK,
    TAILS,
    WRITE,
    LineAssembler,
    ScannerError,
    ScannerStream,
    baud_frame,
    build_frame,
    clean_line,
    crc16_xmodem,
    parse_reply,
    read_frame,
    save_frame,
    trigger_frame,
    write_frame,
)


class GM65Scanner:
    """The scanner behind the terminal's interface: configure() at boot, poll() in the loop."""

    def __init__(self, uart, terminator=b"\r", max_line=256, mode="sensor", baud=9600,
                 check=True, save=True, timeout_ms=300, set_baud=None, clock=None, sleep=None,
                 tail=None):
        if mode not in MODES:
            raise ScannerError("unknown mode %s" % mode)
        # (register, mask, {terminator: bits}) of the module's tail; None: this family's.
        self.tail_reg, self.tail_mask, self.tails = tail or (REG_TAIL, TAIL_MASK, TAILS)
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
        """Find the module, set its mode, tail and speed, save if anything changed, read back.

        `terminator` is what lines are cut on here; the module is told to end its lines with
        it (CR, CRLF or TAB; any other terminator leaves the module's tail as it is)."""
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
            bits = self._tail_bits()
            if bits is not None:
                tail = self._read_byte(self.tail_reg)
                want = (tail & ~self.tail_mask & 0xFF) | bits
                if want != tail:
                    self._expect(self._command(write_frame(self.tail_reg, bytes([want]),
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
        bits = self._tail_bits()
        if bits is not None:
            try:
                tail = self._read_byte(self.tail_reg)
            except (ScannerError, OSError) as err:
                return self._fail(FAULT, err)
            if tail & self.tail_mask != bits:
                return self._fail(FAULT, "scanner tail is 0x%02x" % (tail & self.tail_mask))
        self.settings, self.state, self.error = settings, OK, None
        return OK

    def _tail_bits(self):
        return self.tails.get(self.stream.lines.terminator)

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

    def _read_byte(self, address):
        data = self._command(read_frame(address, 1, self.check_crc))
        if data is None or len(data) != 1:
            raise ScannerError("no 1-byte reply reading 0x%04x" % address)
        return data[0]

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
