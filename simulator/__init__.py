"""The real firmware on a desktop with simulated hardware: one terminal or a fleet.

Importing the package puts firmware/ and the repository root on sys.path (simulator/firmware.py),
so its modules import the firmware's `terminal.*` as the board does."""

from simulator.firmware import add_firmware_path

add_firmware_path()
