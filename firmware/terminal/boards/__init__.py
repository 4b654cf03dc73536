# Board definitions and the boot-time choice of drivers.
#
# A board is a dict (BOARD in terminal/boards/<name>.py): for each device a spec with "driver"
# (which implementation) and that driver's pins and settings:
#   scanner  gm65 {uart, tx, rx, baud, terminator, mode, rxbuf} | sim_gm65 {...} | camera {}
#   display  ssd1306 {i2c, sda, scl, freq, addr, width, height} | sim {width, height}
#   keypad   matrix {rows, cols, keys, debounce_ms} | sim
#   buzzer   pwm {pin} | sim          led  pin {pin, invert} | sim
#   wifi     wlan | sim               clock  ntp {host} | system | sim
#   storage  flash {root} | dir {root}
# build_drivers() imports only the modules the board needs (RAM on an ESP32 is tight), and a
# device that fails to start becomes a MissingDevice that says why, instead of stopping the
# boot: the terminal still comes up, reports the fault in its heartbeat and can be diagnosed.

import sys


def default_name():
    return "esp32_gm65" if sys.platform == "esp32" else "unix_sim"


def load(name=None):
    module = __import__("terminal.boards." + (name or default_name()), None, None, ["BOARD"])
    return module.BOARD


class MissingDevice:
    """Any device's calls, doing nothing; state "absent" and the reason in `error`."""

    def __init__(self, kind, error):
        self.kind, self.error, self.state = kind, error, "absent"

    def poll(self, *args):
        return None

    def show(self, lines):
        return False

    def play(self, name, now_ms):
        return False

    def tick(self, *args):
        return "down" if self.kind == "wifi" else False

    def trigger(self):
        pass

    def configure(self, *args):
        return self.state

    def check(self):
        return self.state

    def is_up(self):
        return False

    def rssi(self):
        return None

    def status(self):
        return {"state": self.state, "error": self.error}


def _scanner(spec, config, out):
    kind = spec["driver"]
    if kind == "camera":
        from terminal.drivers.camera_qr import CameraQR
        return CameraQR()  # raises CameraUnavailable on a build without code_scanner
    from terminal.drivers.scanner_gm65 import GM65Scanner
    opts = {"terminator": spec.get("terminator", b"\r"), "mode": spec.get("mode", "sensor"),
            "baud": spec.get("baud", 9600)}
    if kind == "gm65":
        from machine import UART
        uart = UART(spec["uart"], baudrate=9600, tx=spec["tx"], rx=spec["rx"],
                    rxbuf=spec.get("rxbuf", 256), timeout=0)
    elif kind == "sim_gm65":
        from terminal.drivers.sim import SimUART
        uart = config.get("sim_uart") or SimUART(tail=opts["terminator"])
        out["sim_uart"] = uart
        clock = config.get("sim_clock")
        if clock:
            opts["clock"], opts["sleep"] = clock.ticks_ms, clock.sleep_ms
    else:
        raise ValueError("unknown scanner driver " + kind)
    scanner = GM65Scanner(uart, **opts)
    scanner.configure()  # configured and checked at boot: state ok / fault / absent
    return scanner


def _display(spec, config, out):
    from terminal.drivers.display_ssd1306 import Screen
    w, h = spec.get("width", 128), spec.get("height", 64)
    if spec["driver"] == "sim":
        from terminal.drivers.sim import SimDisplay
        return Screen(SimDisplay(w, h))
    from machine import I2C, Pin

    from terminal.drivers.display_ssd1306 import SSD1306
    i2c = I2C(spec["i2c"], sda=Pin(spec["sda"]), scl=Pin(spec["scl"]), freq=spec["freq"])
    return Screen(SSD1306(i2c, w, h, spec.get("addr", 0x3C)))


def _keypad(spec, config, out):
    if spec["driver"] == "sim":
        from terminal.drivers.sim import SimKeypad
        return SimKeypad(config.get("keys", ""))
    from machine import Pin

    from terminal.drivers.keypad_matrix import KEYS, Keypad
    rows = [Pin(n, Pin.OUT, value=1) for n in spec["rows"]]
    cols = [Pin(n, Pin.IN, Pin.PULL_UP) for n in spec["cols"]]
    return Keypad(rows, cols, spec.get("keys", KEYS), spec.get("debounce_ms", 30))


def _buzzer(spec, config, out):
    if spec["driver"] == "sim":
        from terminal.drivers.sim import SimBuzzer
        return SimBuzzer()
    from machine import PWM, Pin

    from terminal.drivers.buzzer import Buzzer
    return Buzzer(PWM(Pin(spec["pin"]), freq=2000, duty_u16=0))


def _led(spec, config, out):
    if spec["driver"] == "sim":
        from terminal.drivers.sim import SimLED
        return SimLED()
    from machine import Pin

    from terminal.drivers.buzzer import Led
    return Led(Pin(spec["pin"], Pin.OUT, value=0), invert=spec.get("invert", False))


def _wifi(spec, config, out):
    from terminal.drivers.wifi import WifiStation
    ssid, password = config.get("ssid", ""), config.get("password", "")
    if spec["driver"] == "sim":
        from terminal.drivers.sim import SimWifi
        wlan = config.get("sim_wifi") or SimWifi()
        out["sim_wifi"] = wlan
        return WifiStation(ssid, password, wlan=wlan)
    return WifiStation(ssid, password)


def _clock(spec, config, out):
    from terminal.drivers import clock
    kind = spec["driver"]
    if kind == "system":
        return clock.Clock()
    if kind == "sim":
        return config["sim_clock"].clock()
    host = config.get("ntp_host") or spec.get("host", "pool.ntp.org")
    return clock.Clock(source=lambda: clock.ntp_time(host), setter=clock.set_rtc)


_BUILDERS = (("scanner", _scanner), ("display", _display), ("keypad", _keypad),
             ("buzzer", _buzzer), ("led", _led), ("wifi", _wifi), ("clock", _clock))


def build_drivers(board, config=None):
    """The board's drivers, built and (scanner) configured: a dict by device name, plus
    "board" (its name), "storage" (the data directory) and "faults" {device: error}."""
    config = config or {}
    out = {"board": board["name"], "faults": {}}
    for kind, build in _BUILDERS:
        spec = board.get(kind)
        try:
            if spec is None:
                raise ValueError("not on this board")
            out[kind] = build(spec, config, out)
        except Exception as err:  # ImportError, OSError (no device on the bus), CameraUnavailable
            out["faults"][kind] = str(err) or err.__class__.__name__
            if kind == "clock":  # the runtime always needs a time: the local one, unsynced
                from terminal.drivers.clock import Clock
                out[kind] = Clock()
            else:
                out[kind] = MissingDevice(kind, out["faults"][kind])
    state = getattr(out["scanner"], "state", "ok")
    if state != "ok" and "scanner" not in out["faults"]:
        out["faults"]["scanner"] = "%s: %s" % (state, out["scanner"].error)
    out["storage"] = config.get("storage_root") or board.get("storage", {}).get("root", "/")
    return out
