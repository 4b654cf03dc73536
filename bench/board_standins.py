# Bench-only stand-ins for an ESP32's hardware modules, so that bench/firmware_core.py can
# build the esp32_gm65 board's real drivers (scanner_gm65, display_ssd1306, keypad_matrix,
# buzzer, wifi, clock) on the unix and webassembly ports, which have no such hardware:
#   machine   UART (a GM65-family module: a register file that answers read, write and save
#             frames as the module's manual says), I2C (takes the bytes), Pin, PWM, RTC
#   network   WLAN (connects at once), STA_IF
#   ntptime   time() from the port's own clock
# `framebuf` is not stood in: both ports have the real module built in.
#
# None of this is firmware and none of it is a simulated twin of the firmware (those are in
# firmware/terminal/drivers/sim*.py): it only gives the real drivers something to call.
# install() puts the modules in sys.modules before the bench's baseline, so their own heap is
# not counted as firmware heap; their identifiers are in the interpreter's qstr pools (on a
# board those names live in the firmware image), which bench/firmware.py reports.

import sys
import time


class UART:
    """A GM65-family module at the end of the UART: answers command frames, sends nothing
    else (no scans happen in the idle figure)."""

    def __init__(self, *args, **kwargs):
        self.regs = bytearray(256)
        self.regs[0] = 0xD6  # factory settings register
        self.inbound = bytearray()

    def init(self, *args, **kwargs):
        pass

    def any(self):
        return len(self.inbound)

    def read(self, n=None):
        data = bytes(self.inbound)
        self.inbound = bytearray()
        return data or None

    def write(self, frame):
        # 7E 00 type len addrH addrL data crcH crcL (gm65_protocol.py); reply 02 00 00 len data
        # crcH crcL. The scanner driver imports gm65_protocol anyway: its CRC is used here.
        from terminal.drivers.gm65_protocol import crc16_xmodem
        kind, size, address = frame[2], frame[3], frame[4] << 8 | frame[5]
        if kind == 0x07:    # read `size` registers
            data = bytes(self.regs[address:address + frame[6]])
        else:               # write (0x08) or save (0x09)
            if kind == 0x08:
                self.regs[address:address + size] = frame[6:6 + size]
            data = b"\x00"
        reply = b"\x02\x00\x00" + bytes([len(data) & 0xFF]) + data
        crc = crc16_xmodem(reply[2:])
        self.inbound.extend(reply + bytes([crc >> 8, crc & 0xFF]))
        return len(frame)


class I2C:
    def __init__(self, *args, **kwargs):
        pass

    def writeto(self, addr, buf):
        return 1

    def writevto(self, addr, bufs):
        return 1


class Pin:
    IN, OUT, PULL_UP = 1, 3, 2

    def __init__(self, number, *args, **kwargs):
        self.level = kwargs.get("value", 1)

    def value(self, level=None):
        if level is None:
            return 1  # keypad columns pulled up: no key held
        self.level = level


class PWM:
    def __init__(self, pin, **kwargs):
        pass

    def freq(self, f=None):
        pass

    def duty_u16(self, d=None):
        pass


class RTC:
    def datetime(self, t=None):
        pass


class WLAN:
    def __init__(self, interface):
        self.up = False

    def active(self, on=None):
        return True

    def connect(self, ssid, password):
        self.up = True

    def disconnect(self):
        self.up = False

    def isconnected(self):
        return self.up

    def status(self, what=None):
        return -60 if what == "rssi" else 1010  # STAT_GOT_IP

    def ifconfig(self):
        return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")


STA_IF = 0
host = "pool.ntp.org"  # ntptime.host, set by the clock driver
_port_time = time.time


def ntp_time():
    return int(_port_time())  # in the port's own epoch, as ntptime.time() answers


def install():
    """Register `machine`, `network` and `ntptime` (this module, for all three: each driver
    asks for only its own names); returns their names."""
    me = sys.modules[__name__]
    me.time = ntp_time  # ntptime.time() (this module's own `time` import is not used after)
    for name in ("machine", "network", "ntptime"):
        sys.modules[name] = me
    return ["machine", "network", "ntptime"]
