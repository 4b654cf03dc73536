# The simulated board: the MicroPython unix port (and CPython for the simulator's fast mode).
# Every device is a twin from terminal/drivers/sim.py, under the same driver code as on the
# board where there is one: GM65Scanner on SimUART, WifiStation on SimWifi, Buzzer/Led on
# SimPWM/SimPin, Screen on SimDisplay. The clock is the host's, already synced by the host.

BOARD = {
    "name": "unix_sim",
    "description": "simulated terminal: GM65 twin, text/framebuf display, key queue",
    "scanner": {"driver": "sim_gm65", "baud": 9600, "terminator": b"\r", "mode": "sensor"},
    "display": {"driver": "sim", "width": 128, "height": 64},
    "keypad": {"driver": "sim"},
    "buzzer": {"driver": "sim"},
    "led": {"driver": "sim"},
    "wifi": {"driver": "sim"},
    "clock": {"driver": "system"},
    "storage": {"driver": "dir", "root": "sim_flash"},
}
