"""The terminal's drivers: the pure protocol part of the GM65 scanner (CRC, frames, replies,
lines) with random bytes, every driver on its simulated twin, the boot-time board build, and the
SSD1306 / Screen drawing on the real framebuf module (MicroPython only: CPython has none).
Portable: pytest runs it on CPython, runner.py on the MicroPython binary."""

import random

from portable import MICROPYTHON
from terminal.boards import build_drivers, load
from terminal.drivers import buzzer, camera_qr, clock, display_ssd1306, keypad_matrix, wifi
from terminal.drivers import scanner_gm65 as gm
from terminal.drivers.sim import SimClock, SimDisplay, SimMatrix, SimPin, SimPWM, SimUART, SimWifi

RANDOM_ROUNDS = 1000


def unhex(text):
    text = text.replace(" ", "")
    return bytes([int(text[i:i + 2], 16) for i in range(0, len(text), 2)])


def test_scanner_crc_and_command_frames():
    assert gm.crc16_xmodem(b"123456789") == 0x31C3
    assert gm.read_frame(0x000A) == unhex("7E 00 07 01 00 0A 01 EE 8A")
    assert gm.write_frame(0x000A, b"\x3e") == unhex("7E 00 08 01 00 0A 3E 4C CF")
    assert gm.save_frame() == unhex("7E 00 09 01 00 00 00 DE C8")
    assert gm.baud_frame(9600) == unhex("7E 00 08 02 00 2A 39 01 A7 EA")
    assert gm.trigger_frame(False) == unhex("7E 00 08 01 00 02 01 AB CD")


def test_scanner_replies():
    assert gm.parse_reply(unhex("02 00 00 01 00 33 31")) == (0, b"\x00", 7)
    assert gm.parse_reply(unhex("02 00 00 01 3E E4 AC")) == (0, b"\x3e", 7)
    assert gm.parse_reply(unhex("02 00 00")) is None


def test_scanner_lines_across_chunks():
    data = b"AB" + unhex("02 00 00 01 00 33 31") + b"C\rhttps://x.fr/v/2DZHB6PQ\r"
    for cut in range(len(data) + 1):
        stream = gm.ScannerStream()
        got = stream.feed(data[:cut]) + stream.feed(data[cut:])
        assert got == ["ABC", "https://x.fr/v/2DZHB6PQ"], (cut, got)
        assert stream.replies == [(0, b"\x00")], (cut, stream.replies)


def test_scanner_parsers_on_random_bytes():
    rnd = random.getrandbits
    for _ in range(RANDOM_ROUNDS):
        data = bytes([rnd(8) for _ in range(rnd(7))])
        if rnd(1):
            data = b"\x02\x00" + data
        try:
            gm.parse_reply(data)
        except gm.ScannerError:
            pass
        stream = gm.ScannerStream(b"\r", 32)
        for _ in range(4):
            for line in stream.feed(bytes([rnd(8) for _ in range(rnd(5))]) + b"\r" * rnd(1)):
                assert 0 < len(line) <= 32, line


def scanner(uart, **kw):
    sim = SimClock()
    return gm.GM65Scanner(uart, clock=sim.ticks_ms, sleep=sim.sleep_ms, **kw)


def test_scanner_boot_and_scan():
    uart = SimUART(settings=0xD6, chunk=5)
    s = scanner(uart, mode="command", baud=115200)
    assert s.configure() == "ok" and uart.flash[0] & 3 == 1 and uart.module_baud == 115200
    uart.scan("2DZHB6PQ")
    s.trigger()
    got = [s.poll() for _ in range(10)]
    assert [g for g in got if g] == ["2DZHB6PQ"], got
    assert scanner(SimUART(absent=True)).configure() == "absent"


def test_scanner_tail_set_and_read_back():
    uart = SimUART(tail=b"\r\n")  # a module left on CRLF: the boot sets CR and saves it
    uart.regs[gm.REG_TAIL] |= 0x05
    s = scanner(uart)
    assert s.configure() == "ok" and uart.flash[gm.REG_TAIL] == 0x85
    assert gm.write_frame(gm.REG_TAIL, b"\x85") in bytes(uart.written)
    uart.scan("2DZHB6PQ")
    assert [s.poll() for _ in range(3)] == ["2DZHB6PQ", None, None]

    class Stubborn(SimUART):  # acknowledges the write, keeps its CRLF: read-back fails
        def _execute(self, kind, address, data):
            if kind == gm.WRITE and address == gm.REG_TAIL:
                return self._reply(b"\x00")
            return SimUART._execute(self, kind, address, data)

    bad = scanner(Stubborn(tail=b"\r\n"))
    assert bad.configure() == "fault" and bad.error == "scanner tail is 0xa0", bad.error


def test_screen_pixels_on_the_real_framebuf():
    if not MICROPYTHON:
        return  # CPython has no framebuf module (the text-lines model is checked below)
    import framebuf

    class I2C:
        commands, frames = [], []

        def writeto(self, addr, data):
            self.commands.append(data[1])

        def writevto(self, addr, parts):
            self.frames.append(bytes(parts[1]))

    i2c = I2C()
    screen = display_ssd1306.Screen(display_ssd1306.SSD1306(i2c))
    screen.show(["PRÊT", "Montant 12,34 €"])
    ref_buf = bytearray(1024)
    ref = framebuf.FrameBuffer(ref_buf, 128, 64, framebuf.MONO_VLSB)
    ref.fill_rect(0, 0, 128, 8, 1)
    ref.text("PRET", 48, 0, 0)
    ref.text("Montant 12,34 E", 0, 8, 1)
    assert i2c.commands[0] == 0xAE and len(i2c.frames) == 2
    assert i2c.frames[-1] == bytes(ref_buf)


def test_screen_on_the_simulated_display():
    device = SimDisplay()
    screen = display_ssd1306.Screen(device)
    screen.show(display_ssd1306.message("Refusé", "Solde insuffisant sur la carte"))
    assert device.lines() == ["Refuse", "Solde", "insuffisant sur", "la carte"], device.lines()
    art = device.art()
    if MICROPYTHON:  # the pixels exist: title bar lit except the letters, body text lit
        assert len(art) == 64 and len(art[0]) == 128 and art[0][0] == "#"
        assert art[3].count("#") > 100 and art[11].count("#") > 5
        assert art[63].count("#") == 0
    else:
        assert art is None


def test_keypad_matrix_reads_every_key_once():
    wires = SimMatrix()
    pad = keypad_matrix.Keypad(wires.rows, wires.cols, debounce_ms=30)
    got = []
    for key in "147*2580369#ABCD":
        wires.press(key)
        for t in range(0, 200, 5):
            k = pad.poll(len(got) * 1000 + t)
            if k:
                got.append(k)
        wires.release(key)
        for t in range(200, 400, 5):
            pad.poll(len(got) * 1000 + t)
    assert "".join(got) == "147*2580369#ABCD", got


def test_buzzer_tunes_and_led():
    pwm = SimPWM()
    b = buzzer.Buzzer(pwm)
    b.play("happy", 0)
    for t in range(0, 1000, 5):
        b.tick(t)
    led = buzzer.Led(SimPin())
    led.play("wait", 0)
    led.tick(100)
    assert [f for f, d in pwm.log if d] == [1047, 1319, 1568], pwm.log
    assert led.pin.value() == 0


def test_wifi_reconnects_with_backoff():
    wlan = SimWifi("atelier", "secret")
    st = wifi.WifiStation("atelier", "secret", wlan=wlan, backoff_min_ms=1000,
                          rand=lambda bits: 0)
    assert [st.tick(t) for t in (0, 10, 20)] == ["connecting", "connecting", "up"]
    wlan.drop()
    wlan.ap_up = False
    after = [st.tick(t) for t in (30, 40)]  # link lost, at once a try: no access point
    assert after == ["connecting", "down"], after
    wlan.ap_up = True
    assert st.tick(100) == "down"  # backing off (500 ms with no jitter)
    late = [st.tick(t) for t in (600, 610, 620)]
    assert late[-1] == "up" and st.drops == 1 and st.rssi() == -58, late
    bad = wifi.WifiStation("atelier", "wrong", wlan=SimWifi("atelier", "secret"))
    assert bad.tick(0) == "connecting" and bad.tick(1) == "down"
    assert "status 202" in bad.last_error, bad.last_error


def test_clock_sync_and_drift():
    sim = SimClock(offset=-900)  # the board's clock is 15 minutes slow
    c = sim.clock()
    assert not c.synced and c.due() and c.sync() and c.synced and c.drift_s == 900
    assert c.now() == sim.true_time() and not c.due()
    sim.ntp_ok = False
    sim.advance(7 * 3600 * 1000)
    assert c.due() and not c.sync() and c.synced and "ETIMEDOUT" in c.last_error
    system = clock.Clock()
    assert system.synced and system.now() > clock.MIN_PLAUSIBLE


def test_boards_build_their_drivers_at_boot():
    sim = build_drivers(load("unix_sim"), {"keys": "1", "ssid": "x", "password": "y"})
    assert sim["faults"] == {} and sim["scanner"].state == "ok" and sim["keypad"].poll(0) == "1"
    sim["sim_uart"].scan("CODE42")
    assert sim["scanner"].poll() == "CODE42"
    board = build_drivers(load("esp32_gm65"))  # no machine.UART here: missing, not a crash
    assert board["scanner"].poll() is None and "scanner" in board["faults"], board["faults"]


def test_camera_qr_reader():
    try:
        camera_qr.CameraQR()
        assert camera_qr.available()  # only on a firmware with code_scanner
        return
    except camera_qr.CameraUnavailable as err:
        assert "not available in this firmware build" in str(err), str(err)

    class Code:
        def payload(self):
            return "2DZHB6PQ"

    class Decoder:
        def find_qrcodes(self, img):
            return Code() if img else None

    class Camera:
        frames = [1, 1, 0, 1]

        def snapshot(self):
            return self.frames.pop(0) if self.frames else 0

    t = [0]
    cam = camera_qr.CameraQR(Camera(), Decoder(), clock=lambda: t[0])
    assert [cam.poll() for _ in range(3)] == ["2DZHB6PQ", None, None]
    t[0] = 5000
    assert cam.poll() == "2DZHB6PQ"
