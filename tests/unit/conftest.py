"""The firmware's packages import under CPython as on the board's flash root (`terminal.*`,
`protocol.*`): firmware/ and the repository root go on sys.path once, here, for every unit
test."""

from simulator.firmware import add_firmware_path

add_firmware_path()
