# The wire contract between terminals and the fleet server. Pure code, no I/O: it imports and
# runs the same on MicroPython 1.29 and CPython 3.11 (see docs/protocol.md).

VERSION = 1
