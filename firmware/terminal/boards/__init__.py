# Board definitions and the boot-time choice of drivers.
#
# A board is a dict (BOARD in terminal/boards/<name>.py): for each device a spec with "driver"
# (which implementation) and that driver's pins and settings:
#   scanner  gm65 {uart, tx, rx, baud, terminator, mode, rxbuf, tail} | sim_gm65 {...} |
#            camera {}   (tail: (register, mask, {terminator: bits}) if not the GM65's)
#   display  ssd1306 {i2c, sda, scl, freq, addr, width, height} | sim {width, height}
#   keypad   matrix {rows, cols, keys, debounce_ms} | sim
#   buzzer   pwm {pin} | sim          led  pin {pin, invert} | sim
#   wifi     wlan | sim               clock  ntp {host} | system | sim
#   storage  flash {root} | dir {root}
# build_drivers() imports only the modules the board needs (RAM on an ESP32 is tight): the real
# parts are built by boards/hardware.py, the simulated twins here. A device that fails to start
# becomes a MissingDevice (boards/missing.py) that says why, instead of stopping the boot: the
# terminal still comes up, reports the fault in its heartbeat and can be diagnosed.

import sys


def default_name():
    return "esp32_gm65" if sys.platform == "esp32" else "unix_sim"


def load(name=None):
    module = __import__("terminal.boards." + (name or default_name()), None, None, ["BOARD"])
    return module.BOARD


def gm65_scanner(uart, spec, clock=None):
    """A GM65-family scanner on `uart` with the spec's settings, configured and checked at
    boot (state ok / fault / absent). `clock`: the simulator's clock, for its twin's delays."""
    from terminal.drivers.scanner_gm65 import GM65Scanner
    opts = {"terminator": spec.get("terminator", b"\r"), "mode": spec.get("mode", "sensor"),
            "baud": spec.get("baud", 9600), "tail": spec.get("tail")}
    if clock:
        opts["clock"], opts["sleep"] = clock.ticks_ms, clock.sleep_ms
    scanner = GM65Scanner(uart, **opts)
    scanner.configure()
    return scanner


def _twin(kind, spec, config, out):
    """A simulated twin (driver "sim", "sim_gm65"), under the board's driver code where there
    is one. The simulator may hand in its own UART, Wi-Fi and clock through `config`."""
    from terminal.drivers import sim
    if kind == "scanner":
        uart = config.get("sim_uart") or sim.SimUART(tail=spec.get("terminator", b"\r"))
        out["sim_uart"] = uart
        return gm65_scanner(uart, spec, config.get("sim_clock"))
    if kind == "display":
        from terminal.drivers.display_ssd1306 import Screen
        return Screen(sim.SimDisplay(spec.get("width", 128), spec.get("height", 64)))
    if kind == "keypad":
        return sim.SimKeypad(config.get("keys", ""))
    if kind == "buzzer":
        return sim.SimBuzzer()
    if kind == "led":
        return sim.SimLED()
    if kind == "wifi":
        from terminal.drivers.wifi import WifiStation
        wlan = config.get("sim_wifi") or sim.SimWifi()
        out["sim_wifi"] = wlan
        return WifiStation(config.get("ssid", ""), config.get("password", ""), wlan=wlan)
    if kind == "clock":
        return config["sim_clock"].clock()
    raise ValueError("unknown device " + kind)


def _device(kind, spec, config, out):
    if spec["driver"].startswith("sim"):
        return _twin(kind, spec, config, out)
    if spec["driver"] == "system":  # the host's clock, already synced by the host
        from terminal.drivers.clock import Clock
        return Clock()
    from terminal.boards import hardware  # a board's real parts (machine, network)
    return hardware.build(kind, spec, config)


def build_drivers(board, config=None):
    """The board's drivers, built and (scanner) configured: a dict by device name, plus
    "board" (its name), "storage" (the data directory) and "faults" {device: error}."""
    config = config or {}
    out = {"board": board["name"], "faults": {}}
    for kind in ("scanner", "display", "keypad", "buzzer", "led", "wifi", "clock"):
        spec = board.get(kind)
        try:
            if spec is None:
                raise ValueError("not on this board")
            out[kind] = _device(kind, spec, config, out)
        except Exception as err:  # ImportError, OSError (no device on the bus), CameraUnavailable
            out["faults"][kind] = str(err) or err.__class__.__name__
            if kind == "clock":  # the runtime always needs a time: the local one, unsynced
                from terminal.drivers.clock import Clock
                out[kind] = Clock()
            else:  # imported only when a device fails: a healthy boot never loads it
                from terminal.boards.missing import MissingDevice
                out[kind] = MissingDevice(kind, out["faults"][kind])
    state = getattr(out["scanner"], "state", "ok")
    if state != "ok" and "scanner" not in out["faults"]:
        out["faults"]["scanner"] = "%s: %s" % (state, out["scanner"].error)
    out["storage"] = config.get("storage_root") or board.get("storage", {}).get("root", "/")
    return out
