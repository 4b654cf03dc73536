# Simulated twins of the terminal's hardware, for the unix port, CPython and the tests. Each
# twin sits where the hardware would, so the real driver code above it still runs: SimUART is
# a GM65 on a wire (GM65Scanner talks to it), SimWifi is a network.WLAN (WifiStation drives it),
# SimPWM/SimPin take the Buzzer/Led output, SimMatrix is the keypad's wires (Keypad scans it).
# SimKeypad (a key queue) and SimDisplay (a canvas for Screen) replace whole devices.

from terminal.drivers.buzzer import Buzzer, Led
from terminal.drivers.scanner_gm65 import (
    BAUD_CODES,
    MODES,
    READ,
    REG_BAUD,
    REG_SETTINGS,
    REG_TRIGGER,
    SAVE,
    WRITE,
    crc16_xmodem,
)

_BAUDS = {}  # register value -> speed
for _speed in BAUD_CODES:
    _BAUDS[BAUD_CODES[_speed]] = _speed


class SimUART:
    """A GM65-family module on a UART: answers command frames as its manual says (read, write,
    save; a bad CRC or a malformed frame gets no answer; AB CD skips the check), sends scans
    followed by its tail, and talks garbage when the host's speed is not its own.
    The settings byte 0xD6 (continuous mode, light, aimer, sound) is this emulator's choice."""

    def __init__(self, settings=0xD6, tail=b"\r", baud=9600, absent=False, chunk=None):
        self.regs = bytearray(256)
        self.regs[REG_SETTINGS] = settings
        code = BAUD_CODES[baud]
        self.regs[REG_BAUD], self.regs[REG_BAUD + 1] = code & 0xFF, code >> 8
        self.flash = bytearray(self.regs)  # what a power cycle comes back to
        self.tail, self.absent, self.chunk = tail, absent, chunk
        self.host_baud = 9600
        self.module_baud = baud
        self.rx = bytearray()  # module -> host, not yet read
        self.written = bytearray()  # host -> module, everything
        self.frames = []  # (type, address, data) of every frame the module accepted
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
        if address <= REG_BAUD + 1 and address + len(data) > REG_BAUD:
            code = self.regs[REG_BAUD] | self.regs[REG_BAUD + 1] << 8
            self.module_baud = _BAUDS.get(code, self.module_baud)  # after the reply
        if address == REG_TRIGGER and data[0] & 1:
            self.regs[REG_TRIGGER] = 0
            if self.pending:
                self._send(self.pending.pop(0) + self.tail)


class _Canvas:
    """What Screen draws on. On MicroPython it forwards to a real framebuf.FrameBuffer (the
    pixels exist). CPython has no framebuf: rather than emulate a pixel font, it keeps a
    text-lines model of what was drawn where; both runtimes record that model."""

    def __init__(self, fb, width, height):
        self.real, self.width, self.height = fb, width, height
        self.rows = [""] * (height // 8)
        self.inverted = [False] * (height // 8)

    def fill(self, c):
        self.rows = [""] * (self.height // 8)
        self.inverted = [bool(c)] * (self.height // 8)
        if self.real:
            self.real.fill(c)

    def fill_rect(self, x, y, w, h, c):
        if x == 0 and w >= self.width and y % 8 == 0:
            for row in range(y // 8, min((y + h) // 8, len(self.rows))):
                self.inverted[row] = bool(c)
        if self.real:
            self.real.fill_rect(x, y, w, h, c)

    def text(self, s, x, y, c=1):
        row, col = y // 8, x // 8
        if 0 <= row < len(self.rows):
            line = self.rows[row]
            line = line + " " * (col - len(line)) if len(line) < col else line
            self.rows[row] = (line[:col] + s + line[col + len(s):])[:self.width // 8]
        if self.real:
            self.real.text(s, x, y, c)


class SimDisplay:
    """The SSD1306's twin: `fb` + show(), like display_ssd1306.SSD1306."""

    def __init__(self, width=128, height=64):
        self.width, self.height = width, height
        try:
            import framebuf
        except ImportError:  # CPython: text-lines model only
            framebuf = None
        self.buffer = bytearray(width * height // 8)
        real = framebuf and framebuf.FrameBuffer(self.buffer, width, height, framebuf.MONO_VLSB)
        self.fb = _Canvas(real, width, height)
        self.has_pixels = real is not None
        self.frames = 0
        self.history = []  # the lines of every frame shown, oldest first (bounded)

    def show(self):
        self.frames += 1
        self.history.append(self.lines())
        del self.history[:-50]

    def lines(self):
        """The text of each line as shown, trailing blank lines dropped."""
        rows = [r.strip() for r in self.fb.rows]
        while rows and not rows[-1]:
            rows.pop()
        return rows

    def art(self, on="#", off=" "):
        """The pixels as text, one string per row (MicroPython: real framebuf), else None."""
        if not self.has_pixels:
            return None
        fb = self.fb.real
        return ["".join([on if fb.pixel(x, y) else off for x in range(self.width)])
                for y in range(self.height)]


class SimKeypad:
    """Keys typed by the simulator or a test, one per poll."""

    def __init__(self, keys=""):
        self.queue = list(keys)

    def press(self, keys):
        self.queue.extend(keys)

    def poll(self, now_ms):
        return self.queue.pop(0) if self.queue else None


class SimPin:
    """machine.Pin's value() / value(v), recording changes."""

    def __init__(self, value=0, read=None):
        self._value, self._read, self.changes = value, read, []

    def value(self, v=None):
        if v is None:
            return self._read() if self._read else self._value
        v = 1 if v else 0
        if v != self._value:
            self.changes.append(v)
        self._value = v
        return None


class SimMatrix:
    """The wires of a 4x4 keypad: a column reads low while its row is driven low and a key
    joining them is down. press()/release() move the keys."""

    def __init__(self, keys="123A456B789C*0#D", nrows=4):
        self.keys, self.ncols = keys, len(keys) // nrows
        self.down = set()
        self.rows = [SimPin(1) for _ in range(nrows)]
        self.cols = [SimPin(1, self._reader(c)) for c in range(self.ncols)]

    def _reader(self, c):
        def read():
            for r, row in enumerate(self.rows):
                if row.value() == 0 and self.keys[r * self.ncols + c] in self.down:
                    return 0
            return 1  # the pull-up
        return read

    def press(self, key):
        self.down.add(key)

    def release(self, key):
        self.down.discard(key)


class SimPWM:
    """machine.PWM's freq()/duty_u16(), recording (freq, duty) as the buzzer plays."""

    def __init__(self):
        self._freq, self._duty, self.log = 0, 0, []

    def freq(self, f):
        self._freq = f

    def duty_u16(self, d):
        self._duty = d
        self.log.append((self._freq if d else 0, d))


class SimBuzzer(Buzzer):
    """The real Buzzer on a SimPWM; `played` lists the tunes asked for."""

    def __init__(self):
        self.played = []
        Buzzer.__init__(self, SimPWM())

    def play(self, name, now_ms):
        self.played.append(name)
        return Buzzer.play(self, name, now_ms)


class SimLED(Led):
    def __init__(self):
        self.played = []
        Led.__init__(self, SimPin())

    def play(self, name, now_ms):
        self.played.append(name)
        return Led.play(self, name, now_ms)


class SimWifi:
    """network.WLAN's station face. Status codes are ESP32's."""

    STAT_IDLE, STAT_CONNECTING, STAT_GOT_IP = 1000, 1001, 1010
    STAT_NO_AP_FOUND, STAT_WRONG_PASSWORD, STAT_CONNECT_FAIL = 201, 202, 203
    FAIL_CODES = (201, 202, 203)

    def __init__(self, ssid=None, password=None, rssi=-58, polls_to_connect=2):
        self.ssid, self.password, self._rssi = ssid, password, rssi
        self.ap_up = True  # the access point is there
        self.polls_to_connect = polls_to_connect  # isconnected() calls before the link is up
        self._active, self._status, self._countdown, self.connect_calls = False, 1000, 0, 0

    def active(self, on=None):
        if on is None:
            return self._active
        self._active = bool(on)

    def connect(self, ssid, password):
        if not self._active:
            raise OSError("STA not active")
        self.connect_calls += 1
        if not self.ap_up or (self.ssid is not None and ssid != self.ssid):
            self._status = self.STAT_NO_AP_FOUND
        elif self.password is not None and password != self.password:
            self._status = self.STAT_WRONG_PASSWORD
        else:
            self._status, self._countdown = self.STAT_CONNECTING, self.polls_to_connect

    def disconnect(self):
        self._status = self.STAT_IDLE

    drop = disconnect  # the link goes away (access point off, out of range)

    def isconnected(self):
        if self._status == self.STAT_CONNECTING:
            self._countdown -= 1
            if self._countdown <= 0:
                self._status = self.STAT_GOT_IP
        return self._status == self.STAT_GOT_IP and self.ap_up

    def status(self, param=None):
        if param == "rssi":
            return self._rssi
        return self._status

    def ifconfig(self):
        return ("10.0.0.2", "255.255.255.0", "10.0.0.1", "10.0.0.1")


class SimClock:
    """True time plus a local clock that may be off by `offset` seconds; milliseconds move only
    when advance() is called (or sleep_ms, so a driver's wait moves it)."""

    def __init__(self, start=1767225600, offset=0):  # 2026-01-01T00:00:00Z
        self.start, self.offset, self.ms = start, offset, 0
        self.ntp_ok = True
        self.ntp_calls = 0

    def advance(self, ms):
        self.ms += ms

    sleep_ms = advance

    def ticks_ms(self):
        return self.ms

    def true_time(self):
        return self.start + self.ms // 1000

    def local(self):
        return self.true_time() + self.offset

    def set(self, unix_s):
        self.offset = unix_s - self.true_time()

    def ntp(self):
        self.ntp_calls += 1
        if not self.ntp_ok:
            raise OSError(110, "ETIMEDOUT")
        return self.true_time()

    def clock(self, **kw):
        from terminal.drivers.clock import Clock
        return Clock(source=self.ntp, local=self.local, setter=self.set, **kw)
