# ruff: noqa: F821 (include and package are the manifest functions of MicroPython's build)
# Frozen-module manifest: the terminal's code compiled into a custom MicroPython firmware image
# (bytecode and its strings in flash, executed in place, like a ROMFS but also with every
# qstr of the code in the firmware's static table instead of the heap's qstr pools).
#
# A MicroPython 1.29 checkout (ports/esp32 needs ESP-IDF set up, see its README):
#   cd micropython/ports/esp32
#   make BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/repo/provisioning/esp32_manifest.py
#   make BOARD=ESP32_GENERIC deploy PORT=/dev/ttyUSB0
# then copy only firmware/main.py (and the device's data files) to the board's flash root:
# `import terminal...` finds the frozen package first (".frozen" leads sys.path).
# The same manifest freezes the code into the unix port (ports/unix, FROZEN_MANIFEST=...).
#
# This file is read by MicroPython's tools/manifestfile.py, not by Python: include(),
# package() and module() are the manifest functions; paths are relative to this file.

include("$(PORT_DIR)/boards/manifest.py")  # the port's own frozen modules (asyncio, ...)

# opt=3: no assert statements and no line numbers in tracebacks: smaller frozen code.
package("terminal", base_path="../firmware", opt=3)
package("protocol", base_path="..", opt=3)
