# The terminal's drivers on whatever Python runs this, the MicroPython binary first: the pure
# protocol part of the GM65 scanner (CRC, frames, replies, lines) with random bytes, the
# drivers on their simulated twins, the boot-time board build, and the SSD1306/Screen drawing
# on the real framebuf module (MicroPython only: CPython has none).
#   check_drivers.py <repo> [rounds]
# Prints "PASS name" / "FAIL name detail", "INFO ..." lines and "SUMMARY <passed> <failed>".
# Only MicroPython-safe syntax and modules here.

import sys

ROOT = sys.argv[1]
sys.path.insert(0, ROOT + "/firmware")
sys.path.insert(0, ROOT)

import gc
import random

ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 300
MICRO = sys.implementation.name == "micropython"
RESULTS = [0, 0]


def free():
    gc.collect()
    return gc.mem_free() if hasattr(gc, "mem_free") else 0


# What the board imports (no sim code): measured before anything else is loaded.
FREE_0 = free()
from terminal.drivers import buzzer, clock, display_ssd1306, keypad_matrix, scanner_gm65, wifi

FREE_1 = free()

from terminal.boards import build_drivers, load
from terminal.drivers import camera_qr
from terminal.drivers.sim import SimClock, SimDisplay, SimMatrix, SimPin, SimPWM, SimUART, SimWifi

gm = scanner_gm65


def check(name, fn):
    try:
        ok = fn()
        detail = "" if ok else "returned " + repr(ok)
    except Exception as err:  # report, do not stop: every check gets its line
        ok, detail = False, repr(err)
    RESULTS[0 if ok else 1] += 1
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else " " + detail))


def unhex(text):
    text = text.replace(" ", "")
    return bytes([int(text[i:i + 2], 16) for i in range(0, len(text), 2)])


def crc_and_frames():
    return (gm.crc16_xmodem(b"123456789") == 0x31C3
            and gm.read_frame(0x000A) == unhex("7E 00 07 01 00 0A 01 EE 8A")
            and gm.write_frame(0x000A, b"\x3e") == unhex("7E 00 08 01 00 0A 3E 4C CF")
            and gm.save_frame() == unhex("7E 00 09 01 00 00 00 DE C8")
            and gm.baud_frame(9600) == unhex("7E 00 08 02 00 2A 39 01 A7 EA")
            and gm.trigger_frame(False) == unhex("7E 00 08 01 00 02 01 AB CD"))


def replies():
    return (gm.parse_reply(unhex("02 00 00 01 00 33 31")) == (0, b"\x00", 7)
            and gm.parse_reply(unhex("02 00 00 01 3E E4 AC")) == (0, b"\x3e", 7)
            and gm.parse_reply(unhex("02 00 00")) is None)


def lines_across_chunks():
    data = b"AB" + unhex("02 00 00 01 00 33 31") + b"C\rhttps://x.fr/v/2DZHB6PQ\r"
    for cut in range(len(data) + 1):
        stream = gm.ScannerStream()
        got = stream.feed(data[:cut]) + stream.feed(data[cut:])
        if got != ["ABC", "https://x.fr/v/2DZHB6PQ"] or stream.replies != [(0, b"\x00")]:
            return False
    return True


def random_bytes():
    rnd = random.getrandbits
    for _ in range(ROUNDS):
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
                if not 0 < len(line) <= 32:
                    return False
    return True


def scanner(uart, **kw):
    sim = SimClock()
    return gm.GM65Scanner(uart, clock=sim.ticks_ms, sleep=sim.sleep_ms, **kw)


def scanner_boot_and_scan():
    uart = SimUART(settings=0xD6, chunk=5)
    s = scanner(uart, mode="command", baud=115200)
    if s.configure() != "ok" or uart.flash[0] & 3 != 1 or uart.module_baud != 115200:
        return False
    uart.scan("2DZHB6PQ")
    s.trigger()
    got = [s.poll() for _ in range(10)]
    absent = scanner(SimUART(absent=True))
    return [g for g in got if g] == ["2DZHB6PQ"] and absent.configure() == "absent"


def scanner_tail_set_and_read_back():
    uart = SimUART(tail=b"\r\n")  # a module left on CRLF: the boot sets CR and saves it
    uart.regs[gm.REG_TAIL] |= 0x05
    s = scanner(uart)
    if s.configure() != "ok" or uart.flash[gm.REG_TAIL] != 0x85:
        return False
    if gm.write_frame(gm.REG_TAIL, b"\x85") not in bytes(uart.written):
        return False
    uart.scan("2DZHB6PQ")
    got = [s.poll() for _ in range(3)]

    class Stubborn(SimUART):  # acknowledges the write, keeps its CRLF: read-back fails
        def _execute(self, kind, address, data):
            if kind == gm.WRITE and address == gm.REG_TAIL:
                return self._reply(b"\x00")
            return SimUART._execute(self, kind, address, data)

    bad = scanner(Stubborn(tail=b"\r\n"))
    return (got == ["2DZHB6PQ", None, None] and bad.configure() == "fault"
            and bad.error == "scanner tail is 0xa0")


def real_framebuf():
    if not MICRO:
        return True  # CPython: no framebuf module (the text-lines model is checked below)
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
    return (i2c.commands[0] == 0xAE and len(i2c.frames) == 2
            and i2c.frames[-1] == bytes(ref_buf))


def sim_display():
    device = SimDisplay()
    screen = display_ssd1306.Screen(device)
    screen.show(display_ssd1306.message("Refusé", "Solde insuffisant sur la carte"))
    ok = device.lines() == ["Refuse", "Solde", "insuffisant sur", "la carte"]
    art = device.art()
    if MICRO:  # the pixels exist: title bar lit except the letters, body text lit
        ok = ok and len(art) == 64 and len(art[0]) == 128 and art[0][0] == "#"
        ok = ok and art[3].count("#") > 100 and art[11].count("#") > 5
        ok = ok and art[63].count("#") == 0
    else:
        ok = ok and art is None
    return ok


def keypad():
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
    return "".join(got) == "147*2580369#ABCD"


def tunes():
    pwm = SimPWM()
    b = buzzer.Buzzer(pwm)
    b.play("happy", 0)
    for t in range(0, 1000, 5):
        b.tick(t)
    led = buzzer.Led(SimPin())
    led.play("wait", 0)
    led.tick(100)
    return [f for f, d in pwm.log if d] == [1047, 1319, 1568] and led.pin.value() == 0


def wifi_reconnects():
    wlan = SimWifi("atelier", "secret")
    st = wifi.WifiStation("atelier", "secret", wlan=wlan, backoff_min_ms=1000,
                          rand=lambda bits: 0)
    states = [st.tick(t) for t in (0, 10, 20)]
    wlan.drop()
    wlan.ap_up = False
    after = [st.tick(t) for t in (30, 40)]  # link lost, at once a try: no access point
    wlan.ap_up = True
    early = st.tick(100)  # backing off (500 ms with no jitter)
    late = [st.tick(t) for t in (600, 610, 620)]
    bad = wifi.WifiStation("atelier", "wrong", wlan=SimWifi("atelier", "secret"))
    return (states == ["connecting", "connecting", "up"] and after == ["connecting", "down"]
            and early == "down" and late[-1] == "up" and st.drops == 1 and st.rssi() == -58
            and bad.tick(0) == "connecting" and bad.tick(1) == "down"
            and "status 202" in bad.last_error)


def clock_sync():
    sim = SimClock(offset=-900)  # the board's clock is 15 minutes slow
    c = sim.clock()
    ok = not c.synced and c.due() and c.sync() and c.synced and c.drift_s == 900
    ok = ok and c.now() == sim.true_time() and not c.due()
    sim.ntp_ok = False
    sim.advance(7 * 3600 * 1000)
    ok = ok and c.due() and not c.sync() and c.synced and "ETIMEDOUT" in c.last_error
    system = clock.Clock()
    return ok and system.synced and system.now() > clock.MIN_PLAUSIBLE


def boards():
    sim = build_drivers(load("unix_sim"), {"keys": "1", "ssid": "x", "password": "y"})
    ok = sim["faults"] == {} and sim["scanner"].state == "ok" and sim["keypad"].poll(0) == "1"
    sim["sim_uart"].scan("CODE42")
    ok = ok and sim["scanner"].poll() == "CODE42"
    board = build_drivers(load("esp32_gm65"))  # no machine.UART here: missing, not a crash
    return ok and board["scanner"].poll() is None and "scanner" in board["faults"]


def camera():
    try:
        camera_qr.CameraQR()
        return camera_qr.available()  # only on a firmware with code_scanner
    except camera_qr.CameraUnavailable as err:
        if "not available in this firmware build" not in str(err):
            return False

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
    got = [cam.poll() for _ in range(3)]
    t[0] = 5000
    return got == ["2DZHB6PQ", None, None] and cam.poll() == "2DZHB6PQ"


for name, fn in (("crc_and_frames", crc_and_frames), ("replies", replies),
                 ("lines_across_chunks", lines_across_chunks), ("random_bytes", random_bytes),
                 ("scanner_boot_and_scan", scanner_boot_and_scan),
                 ("scanner_tail_set_and_read_back", scanner_tail_set_and_read_back),
                 ("real_framebuf", real_framebuf), ("sim_display", sim_display),
                 ("keypad", keypad), ("tunes", tunes), ("wifi_reconnects", wifi_reconnects),
                 ("clock_sync", clock_sync), ("boards", boards), ("camera", camera)):
    check(name, fn)

print("INFO drivers_memory micropython %s modules_bytes %d" % (MICRO, FREE_0 - FREE_1))
print("SUMMARY %d %d" % (RESULTS[0], RESULTS[1]))
sys.exit(1 if RESULTS[1] else 0)
