# What the portable test modules (tests/micropython/test_*.py) share, on both runtimes: pytest
# collects them on CPython, runner.py runs them on the MicroPython binary. MicroPython-safe
# code only (no os.path, no tempfile there).

import json
import sys

MICROPYTHON = sys.implementation.name == "micropython"
ROOT = __file__.rsplit("/", 3)[0]  # <repo>/tests/micropython/portable.py
VECTORS = ROOT + "/protocol/vectors/"

# runner.py points this at the directory it was given; on CPython each scratch() is a fresh
# temporary directory of its own.
scratch_root = None
_made = [0]


def load_vectors(name):
    with open(VECTORS + name) as f:
        return json.loads(f.read())


def unhex(text):
    return bytes(int(text[i:i + 2], 16) for i in range(0, len(text), 2))


def hexs(data):
    return "".join(["%02x" % b for b in data])


def scratch(name):
    """A new empty directory for one test."""
    if scratch_root is None:
        import atexit
        import shutil
        import tempfile

        path = tempfile.mkdtemp(prefix=name + "-")
        atexit.register(shutil.rmtree, path, True)
        return path
    import os

    _made[0] += 1
    path = "%s/%s-%d" % (scratch_root, name, _made[0])
    os.mkdir(path)
    return path


def ticks_us():
    import time

    if hasattr(time, "ticks_us"):
        return time.ticks_us()
    return int(time.perf_counter() * 1000000)


def elapsed_us(start):
    import time

    if hasattr(time, "ticks_diff"):
        return time.ticks_diff(ticks_us(), start)
    return ticks_us() - start
