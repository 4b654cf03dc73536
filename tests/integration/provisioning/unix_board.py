"""The MicroPython unix port standing in for a board on a serial port: its interactive REPL runs
on one pseudo-terminal, and a relay copies bytes to and from a second one whose path is the
"serial port" mpremote opens (as `socat PTY,link=... EXEC:micropython,pty` would). mpremote then
speaks raw REPL and raw-paste mode to a real MicroPython.

The unix port exits on a soft reset (Ctrl-D in the raw REPL) where a board restarts, so the
flash code runs with soft_reset=False there, as `mpremote connect PORT resume ...` does.
"""

import os
import pty
import select
import subprocess
import threading
import time
import tty
from pathlib import Path


class UnixBoard:
    def __init__(self, binary: str, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        repl_master, repl_slave = pty.openpty()
        tty.setraw(repl_slave)
        self.proc = subprocess.Popen([binary], stdin=repl_slave, stdout=repl_slave,
                                     stderr=repl_slave, cwd=self.root, start_new_session=True)
        os.close(repl_slave)
        port_master, port_slave = pty.openpty()
        tty.setraw(port_slave)
        # Keep our own handle on the port side: a pty whose every slave is closed makes the
        # relay's reads fail with EIO between two mpremote sessions.
        self._port_slave = port_slave
        self.port = os.ttyname(port_slave)
        self._fds = (repl_master, port_master)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._relay, daemon=True)
        self._thread.start()
        time.sleep(0.3)  # the REPL's banner and prompt

    def _relay(self) -> None:
        repl, port = self._fds
        peer = {repl: port, port: repl}
        while not self._stop.is_set():
            ready, _, _ = select.select([repl, port], [], [], 0.1)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:  # the REPL exited, or no one holds the port open
                    continue
                if data:
                    os.write(peer[fd], data)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)
        for fd in (*self._fds, self._port_slave):
            os.close(fd)
