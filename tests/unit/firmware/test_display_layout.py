"""Screen layout: French messages folded to the 8x8 font's ASCII, wrapped to 16 columns, at
most 8 lines, title on an inverted bar. On CPython SimDisplay keeps the text-lines model (no
framebuf here); the pixels are checked on the MicroPython binary
(tests/micropython/test_drivers_on_twins.py)."""

from hypothesis import given, settings
from hypothesis import strategies as st
from terminal import screens
from terminal.drivers.display_ssd1306 import SSD1306, Screen, layout, message
from terminal.drivers.sim import SimDisplay

from protocol.text import ascii_fold

FRENCH = [
    "Solde insuffisant sur la carte",
    "Ce chèque n'est pas compatible avec votre convention",
    "Montant supérieur au plafond par achat (6,00 €)",
    "Pas de réponse, réessayez plus tard, opération en attente",
    "Hors ligne - vente impossible",
    "Code illisible, rescannez",
]


def fits(lines):
    return len(lines) <= 8 and all(len(x) <= 16 and x.isascii() for x in lines)


def test_french_messages_fold_and_fit():
    for text in FRENCH:
        lines = message("Refusé", text)
        assert fits(lines), lines
        assert lines[0] == "Refuse"
        assert " ".join(lines[1:]).split() == ascii_fold(text).split()  # nothing lost


def test_known_layout():
    assert message("Paiement accepté", "Montant 12,34 € débité, solde restant 3,66 €") == [
        "Paiement accepte", "Montant 12,34 E", "debite, solde", "restant 3,66 E"]


def test_title_is_cut_body_is_wrapped_and_height_capped():
    lines = layout(["Un titre beaucoup trop long", "x" * 40] + ["ligne"] * 10)
    assert lines[0] == "Un titre beaucou"
    assert lines[1:4] == ["x" * 16, "x" * 16, "x" * 8]
    assert len(lines) == 8


def test_screen_draws_title_bar_and_lines():
    device = SimDisplay()
    screen = Screen(device)
    assert screen.show(["PRÊT", "Librairie", "", "Scannez le code"])
    assert device.lines() == ["PRET", "Librairie", "", "Scannez le code"]
    assert device.fb.inverted[0] and not device.fb.inverted[1]
    assert device.fb.rows[0] == " " * 6 + "PRET"  # centred: (16 - 4) / 2 columns
    assert not screen.show(["PRÊT", "Librairie", "", "Scannez le code"])  # unchanged: no I2C
    assert device.frames == 1
    screen.show([])
    assert device.lines() == [] and device.frames == 2


def test_the_applications_screens_show_unchanged():
    device = SimDisplay()
    screen = Screen(device)
    for lines in (screens.idle("Librairie des Écoles", True, True, False),
                  screens.idle("Théâtre", False, False, True),
                  screens.unconfigured(False)):
        screen.show(lines)
        shown = device.lines()
        assert fits(shown) and shown == [x.strip() for x in lines][:len(shown)]


class FakeI2C:
    def __init__(self):
        self.commands, self.frames = [], []

    def writeto(self, addr, data):
        assert addr == 0x3C and data[0] == 0x80
        self.commands.append(data[1])

    def writevto(self, addr, parts):
        assert parts[0] == b"\x40"
        self.frames.append(bytes(parts[1]))


class FakeFramebufModule:
    MONO_VLSB = 0

    class FrameBuffer:
        def __init__(self, buf, w, h, fmt):
            self.buf = buf

        def fill(self, c):
            for i in range(len(self.buf)):
                self.buf[i] = 0xFF if c else 0


def test_ssd1306_init_and_frame_bytes():
    i2c = FakeI2C()
    panel = SSD1306(i2c, framebuf_module=FakeFramebufModule)
    assert i2c.commands[0] == 0xAE and i2c.commands[-7] == 0xAF  # off first, on last
    assert [0x8D, 0x14] == i2c.commands[-9:-7]  # internal charge pump
    assert i2c.commands[-6:] == [0x21, 0, 127, 0x22, 0, 7]  # the window of show()
    assert i2c.frames == [bytes(1024)]
    panel.fb.fill(1)
    panel.show()
    assert i2c.frames[-1] == b"\xff" * 1024


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from("abcdeéèêàçôùœ€’ «»XYZ0123456789,.-"),
                        max_size=60), max_size=12))
def test_any_french_text_fits_the_screen(lines):
    assert fits(layout(lines))
