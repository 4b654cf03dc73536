# Simulated twins of the terminal's hardware, for the unix port, CPython and the tests. Each
# twin sits where the hardware would, so the real driver code above it still runs: SimUART is
# a GM65 on a wire (GM65Scanner talks to it), SimWifi is a network.WLAN (WifiStation drives it),
# SimPWM/SimPin take the Buzzer/Led output, SimMatrix is the keypad's wires (Keypad scans it).
# SimKeypad (a key queue) and SimDisplay (a canvas for Screen) replace whole devices.
# What the twins record for tests (frames, tunes, pin changes) is bounded: the simulated board
# runs for hours, and on the MicroPython unix port its heap is measured (bench/firmware.py).

# SimMatrix and SimClock, which the unix_sim board does not build, live in sim_extra.py and
# load on first use through this module's __getattr__: on the unix port every module imported
# costs heap, and each identifier of it a qstr-pool entry.

from terminal.drivers.buzzer import Buzzer, Led
from terminal.drivers.sim_gm65 import SimUART  # noqa: F401 (the scanner's twin, here too)

RECORD = 32  # entries kept by each recording list
HISTORY = 2  # frames kept by SimDisplay.history: each is a list of lines, live on the heap


def _record(items, item, keep=RECORD):
    items.append(item)
    if len(items) > keep:
        del items[0]


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
        self.history = []  # the lines of the last HISTORY frames shown, oldest first

    def show(self):
        self.frames += 1
        _record(self.history, self.lines(), HISTORY)

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
            _record(self.changes, v)
        self._value = v
        return None


class SimPWM:
    """machine.PWM's freq()/duty_u16(), recording (freq, duty) as the buzzer plays."""

    def __init__(self):
        self._freq, self._duty, self.log = 0, 0, []

    def freq(self, f):
        self._freq = f

    def duty_u16(self, d):
        self._duty = d
        _record(self.log, (self._freq if d else 0, d))


class SimBuzzer(Buzzer):
    """The real Buzzer on a SimPWM; `played` lists the tunes asked for."""

    def __init__(self):
        self.played = []
        Buzzer.__init__(self, SimPWM())

    def play(self, name, now_ms):
        _record(self.played, name)
        return Buzzer.play(self, name, now_ms)


class SimLED(Led):
    def __init__(self):
        self.played = []
        Led.__init__(self, SimPin())

    def play(self, name, now_ms):
        _record(self.played, name)
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


def __getattr__(name):  # PEP 562; MicroPython: MICROPY_MODULE_GETATTR (unix, ESP32)
    if name in ("SimMatrix", "SimClock"):
        from terminal.drivers import sim_extra
        return getattr(sim_extra, name)
    raise AttributeError(name)
