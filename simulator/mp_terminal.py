"""A terminal on the micropython binary: firmware/main.py with the simulated board, in its own
process. Its stdin takes "scan CODE" and "keys 12A"; every screen it draws comes back on stdout
as "SCREEN line1|line2|...". Slower to start than an in-process terminal, but it is the very
runtime a board has (single-precision floats, MicroPython's sockets, ssl and json)."""

import shutil
import subprocess
import sys
import threading
from pathlib import Path

from simulator.firmware import FIRMWARE


def find_micropython() -> str | None:
    beside = Path(sys.executable).parent / "micropython"
    return str(beside) if beside.exists() else shutil.which("micropython")


class MpTerminal:
    def __init__(self, binary: str, root, name: str | None = None, heap: str = "2M"):
        self.binary, self.root, self.heap = binary, Path(root), heap
        self.proc: subprocess.Popen | None = None
        self.screen: list[str] = []
        self.frames = 0
        self.output: list[str] = []  # the last lines it printed, for diagnosis
        self.device_id = self._device_id()
        self.name = name or self.device_id
        self.powered = False
        self._lock = threading.Lock()

    def _device_id(self) -> str | None:
        import json

        try:
            return json.loads((self.root / "device.json").read_text()).get("device_id")
        except (OSError, ValueError):
            return None

    def boot(self) -> "MpTerminal":
        self.proc = subprocess.Popen(
            [self.binary, "-X", f"heapsize={self.heap}", str(FIRMWARE / "main.py"),
             str(self.root), "unix_sim"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.powered = True
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        return self

    def _read(self, proc) -> None:
        for line in proc.stdout:
            line = line.rstrip("\n")
            with self._lock:
                self.output = (self.output + [line])[-40:]
                if line.startswith("SCREEN "):
                    self.screen = line[7:].split("|")
                    self.frames += 1

    @property
    def online(self) -> bool:
        return bool(self.screen) and self.screen[0] == "PRET"

    def step(self) -> None:
        """Nothing to do: the process runs its own loop."""
        if self.powered and self.proc is not None and self.proc.poll() is not None:
            self.powered = False  # it stopped by itself (a restart command exits with 3)
            self.boot()

    def _send(self, command: str) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        except OSError:
            pass

    def scan(self, text: str) -> None:
        self._send("scan " + text)

    def press(self, keys: str) -> None:
        self._send("keys " + keys)

    def power_cut(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.powered = False
        self.screen = []

    def shutdown(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self._send("quit")
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.powered = False
