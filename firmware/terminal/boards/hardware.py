# The real parts of a board, built from its pin map with MicroPython's `machine` module (UART,
# I2C, Pin, PWM) and `network`/`ntptime` through the drivers. Imported by build_drivers() only
# for a device whose driver is not a simulated twin: the unix_sim board never loads it, and
# these names stay out of its heap.

from terminal.boards import gm65_scanner


def build(kind, spec, config):
    """The driver of one device (kind: scanner, display, keypad, buzzer, led, wifi, clock)."""
    driver = spec["driver"]
    if kind == "scanner":
        if driver == "camera":
            from terminal.drivers.camera_qr import CameraQR
            return CameraQR()  # raises CameraUnavailable on a build without code_scanner
        if driver != "gm65":
            raise ValueError("unknown scanner driver " + driver)
        from machine import UART
        return gm65_scanner(UART(spec["uart"], baudrate=9600, tx=spec["tx"], rx=spec["rx"],
                                 rxbuf=spec.get("rxbuf", 256), timeout=0), spec)
    if kind == "display":
        from machine import I2C, Pin

        from terminal.drivers.display_ssd1306 import SSD1306, Screen
        i2c = I2C(spec["i2c"], sda=Pin(spec["sda"]), scl=Pin(spec["scl"]), freq=spec["freq"])
        return Screen(SSD1306(i2c, spec.get("width", 128), spec.get("height", 64),
                              spec.get("addr", 0x3C)))
    if kind == "keypad":
        from machine import Pin

        from terminal.drivers.keypad_matrix import KEYS, Keypad
        rows = [Pin(n, Pin.OUT, value=1) for n in spec["rows"]]
        cols = [Pin(n, Pin.IN, Pin.PULL_UP) for n in spec["cols"]]
        return Keypad(rows, cols, spec.get("keys", KEYS), spec.get("debounce_ms", 30))
    if kind == "buzzer":
        from machine import PWM, Pin

        from terminal.drivers.buzzer import Buzzer
        return Buzzer(PWM(Pin(spec["pin"]), freq=2000, duty_u16=0))
    if kind == "led":
        from machine import Pin

        from terminal.drivers.buzzer import Led
        return Led(Pin(spec["pin"], Pin.OUT, value=0), invert=spec.get("invert", False))
    if kind == "wifi":
        from terminal.drivers.wifi import WifiStation
        return WifiStation(config.get("ssid", ""), config.get("password", ""))
    if kind == "clock":
        from terminal.drivers import clock
        host = config.get("ntp_host") or spec.get("host", "pool.ntp.org")
        return clock.Clock(source=lambda: clock.ntp_time(host), setter=clock.set_rtc)
    raise ValueError("unknown device " + kind)
