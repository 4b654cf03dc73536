# SSD1306 128x64 OLED over I2C, drawn with MicroPython's framebuf (MONO_VLSB: one byte is a
# column of 8 pixels, the SSD1306's own page layout, so the buffer goes out as it is), plus the
# Screen layout the counter application uses: 8 lines of 16 characters of the built-in 8x8 font,
# the first line a title on an inverted bar.
#
# The command sequence is the one of micropython-lib's ssd1306 driver (display off, horizontal
# addressing, segment remap, COM scan direction, charge pump on, display on).

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

from protocol.text import ascii_fold, wrap

WIDTH = const(16)  # characters per line: 128 px / 8
HEIGHT = const(8)  # lines: 64 px / 8

_SET_CONTRAST = const(0x81)
_SET_ENTIRE_ON = const(0xA4)
_SET_NORM_INV = const(0xA6)
_SET_DISP = const(0xAE)
_SET_MEM_ADDR = const(0x20)
_SET_COL_ADDR = const(0x21)
_SET_PAGE_ADDR = const(0x22)
_SET_DISP_START_LINE = const(0x40)
_SET_SEG_REMAP = const(0xA0)
_SET_MUX_RATIO = const(0xA8)
_SET_COM_OUT_DIR = const(0xC0)
_SET_DISP_OFFSET = const(0xD3)
_SET_COM_PIN_CFG = const(0xDA)
_SET_DISP_CLK_DIV = const(0xD5)
_SET_PRECHARGE = const(0xD9)
_SET_VCOM_DESEL = const(0xDB)
_SET_CHARGE_PUMP = const(0x8D)


class SSD1306:
    """The panel: `fb` is the framebuf.FrameBuffer to draw on, show() sends it over I2C."""

    def __init__(self, i2c, width=128, height=64, addr=0x3C, external_vcc=False,
                 framebuf_module=None):
        if framebuf_module is None:
            import framebuf as framebuf_module  # board and unix port; not on CPython
        self.i2c, self.addr = i2c, addr
        self.width, self.height, self.pages = width, height, height // 8
        self.external_vcc = external_vcc
        self.buffer = bytearray(self.pages * width)
        self.fb = framebuf_module.FrameBuffer(self.buffer, width, height,
                                              framebuf_module.MONO_VLSB)
        self._cmd = bytearray(2)
        self._data = [b"\x40", self.buffer]  # writevto: control byte then the frame, no copy
        self.init_display()

    def init_display(self):
        for cmd in (
            _SET_DISP,
            _SET_MEM_ADDR, 0x00,
            _SET_DISP_START_LINE,
            _SET_SEG_REMAP | 0x01,
            _SET_MUX_RATIO, self.height - 1,
            _SET_COM_OUT_DIR | 0x08,
            _SET_DISP_OFFSET, 0x00,
            _SET_COM_PIN_CFG, 0x02 if self.width > 2 * self.height else 0x12,
            _SET_DISP_CLK_DIV, 0x80,
            _SET_PRECHARGE, 0x22 if self.external_vcc else 0xF1,
            _SET_VCOM_DESEL, 0x30,
            _SET_CONTRAST, 0xFF,
            _SET_ENTIRE_ON,
            _SET_NORM_INV,
            _SET_CHARGE_PUMP, 0x10 if self.external_vcc else 0x14,
            _SET_DISP | 0x01,
        ):
            self.write_cmd(cmd)
        self.fb.fill(0)
        self.show()

    def write_cmd(self, cmd):
        self._cmd[0] = 0x80  # Co=1, D/C#=0: one command byte follows
        self._cmd[1] = cmd
        self.i2c.writeto(self.addr, self._cmd)

    def show(self):
        for cmd in (_SET_COL_ADDR, 0, self.width - 1, _SET_PAGE_ADDR, 0, self.pages - 1):
            self.write_cmd(cmd)
        self.i2c.writevto(self.addr, self._data)

    def poweroff(self):
        self.write_cmd(_SET_DISP)

    def poweron(self):
        self.write_cmd(_SET_DISP | 0x01)

    def contrast(self, value):
        self.write_cmd(_SET_CONTRAST)
        self.write_cmd(value & 0xFF)

    def invert(self, on):
        self.write_cmd(_SET_NORM_INV | (1 if on else 0))


def _is_ascii(text):
    for ch in text:  # allocates nothing: the screens send ASCII lines already (screens.fit)
        if ord(ch) > 127:
            return False
    return True


def layout(lines):
    """Any texts -> at most 8 lines of at most 16 ASCII characters, title first.

    Accents are folded (the 8x8 font is ASCII); a body line too long is wrapped onto the next
    lines rather than cut, a title too long is cut (it stays one line)."""
    out = []
    for n in range(len(lines)):
        text = lines[n] or ""
        text = text if _is_ascii(text) else ascii_fold(text)
        if n == 0:
            out.append(text if len(text) <= WIDTH else text[:WIDTH])
        elif len(text) <= WIDTH:
            out.append(text)
        else:
            out.extend(wrap(text, WIDTH) or [""])
        if len(out) >= HEIGHT:
            break
    return out[:HEIGHT]


def message(title, text):
    """A title and a free French text wrapped under it."""
    return layout([title] + wrap(ascii_fold(text), WIDTH))


class Screen:
    """Draws layout(lines) on a device with `fb` (fill, fill_rect, text) and show()."""

    def __init__(self, device):
        self.device = device
        self.lines = None
        self._asked = None  # the lines last asked for, before layout

    def show(self, lines):
        if lines == self._asked:
            return False  # the same screen again: no layout, no frame
        self._asked = list(lines)  # a copy: a caller may refill the same list
        lines = layout(lines)
        if lines == self.lines:
            return False  # a full frame is 1 KB on I2C (~25 ms at 400 kHz): skip repeats
        fb = self.device.fb
        fb.fill(0)
        if lines:
            fb.fill_rect(0, 0, WIDTH * 8, 8, 1)  # the title bar: text drawn in colour 0 on it
            fb.text(lines[0], (WIDTH - len(lines[0])) * 4, 0, 0)
        for row in range(1, len(lines)):
            fb.text(lines[row], 0, row * 8, 1)
        self.device.show()
        self.lines = lines
        return True
