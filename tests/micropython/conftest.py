"""On CPython the portable modules import the firmware's packages the way the device does
(`terminal`, `drivers`...): firmware/ on sys.path, as runner.py does on MicroPython."""

from simulator.firmware import add_firmware_path

add_firmware_path()
