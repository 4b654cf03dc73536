"""Importing the firmware under CPython: its modules are top-level `terminal.*` and
`protocol.*`, as on the board's flash root, so firmware/ and the repository root go on
sys.path (the same layout tests and firmware/main.py use). The package's __init__ calls
add_firmware_path() once, before any of its modules imports the firmware."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIRMWARE = REPO / "firmware"


def add_firmware_path() -> None:
    for path in (str(REPO), str(FIRMWARE)):
        if path not in sys.path:
            sys.path.insert(0, path)
