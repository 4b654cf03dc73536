"""A MicroPython board as a flash target, through mpremote's serial transport (raw REPL and
raw-paste mode), with the same interface as flash.DirectoryTarget.

soft_reset=True (the default for a real board) soft-resets into the raw REPL, so that no running
program holds files open. The MicroPython unix port exits on a soft reset instead: there, use
soft_reset=False (`mpremote ... resume` does the same), which only interrupts (Ctrl-C) what runs.

`root` is the folder on the board that stands for the flash root ("/" on a board); every path
is written relative to it.
"""

import ast
import errno
import re

from provisioning.flash import FlashError, FlashFullError

_HASHES = """import os,hashlib,binascii
def _h(p):
 try:
  f=open(p,'rb')
 except OSError:
  return None
 h=hashlib.sha256();b=bytearray(512);m=memoryview(b)
 while 1:
  n=f.readinto(b)
  if not n:break
  h.update(m[:n])
 f.close()
 return binascii.hexlify(h.digest()).decode()
print(repr([_h(p) for p in %r]))
"""

_MKDIRS = """import os
for d in %r:
 try:
  os.mkdir(d)
 except OSError as e:
  if e.errno!=17:raise
"""

_RENAME = """import os
try:
 os.rename(%r,%r)
except OSError:
 os.remove(%r);os.rename(%r,%r)
"""


class BoardTarget:
    def __init__(self, port: str, root: str = "/", soft_reset: bool = True,
                 timeout: float = 10.0, chunk: int = 1024):
        self.port, self.root, self.soft_reset = port, root, soft_reset
        self.timeout, self.chunk = timeout, chunk
        self.name = f"the board on {port}"
        self.transport = None
        self._dirs: set[str] = set()

    def __enter__(self):
        try:
            from mpremote.transport import TransportError
            from mpremote.transport_serial import SerialTransport
        except ImportError as err:
            raise FlashError("flashing a board needs mpremote: "
                             "pip install 'counter-terminal[tools]'") from err

        try:
            # A read timeout: mpremote reads a pty (the unix port, QEMU) with blocking reads,
            # which would wait forever on a port nobody answers.
            self.transport = SerialTransport(self.port, baudrate=115200, timeout=self.timeout)
        except TransportError:
            import os

            why = ("it is busy, not a serial port, or not yours (dialout group?)"
                   if os.path.exists(self.port) else "no such serial port (is the board "
                   "plugged in? `mpremote devs` lists the ports)")
            raise FlashError(f"cannot open {self.port}: {why}") from None
        try:
            self.transport.enter_raw_repl(soft_reset=self.soft_reset,
                                          timeout_overall=self.timeout)
            self._exec(f"import os\nos.chdir({self.root!r})")
        except TransportError as err:
            self.transport.close()
            raise FlashError(f"no MicroPython REPL answered on {self.port} ({err}): wrong "
                             "port, the board is busy or not running MicroPython") from None
        return self

    def __exit__(self, *exc):
        if self.transport is not None:
            try:
                self.transport.exit_raw_repl()
            finally:
                self.transport.close()
        return False

    def _exec(self, code: str) -> bytes:
        from mpremote.transport import TransportError, TransportExecError

        try:
            return self.transport.exec(code)
        except TransportExecError as err:
            text = err.error_output.strip().splitlines()
            last = text[-1] if text else "error"
            # MicroPython says "OSError: 28" or "OSError: [Errno 28] ENOSPC" by port
            if "ENOSPC" in last or re.search(rf"OSError: (\[Errno )?{errno.ENOSPC}\b", last):
                raise FlashFullError(f"{self.name}: flash full ({last})") from None
            raise FlashError(f"{self.name}: {last}") from None
        except TransportError as err:
            raise FlashError(f"{self.name} stopped answering ({err}): check the cable and "
                             "run the same command again") from None

    def hashes(self, paths: list[str]) -> dict[str, str | None]:
        out = ast.literal_eval(self._exec(_HASHES % (list(paths),)).decode().strip())
        return dict(zip(paths, out, strict=True))

    def free_bytes(self) -> int:
        st = ast.literal_eval(self._exec("import os\nprint(tuple(os.statvfs('.')))")
                              .decode().strip())
        return st[0] * st[4]  # f_bsize * f_bavail (littlefs and the unix port agree)

    def write(self, path: str, data: bytes) -> None:
        parts = path.split("/")
        dirs = ["/".join(parts[:i]) for i in range(1, len(parts))]
        todo = [d for d in dirs if d not in self._dirs]
        if todo:
            self._exec(_MKDIRS % (todo,))
            self._dirs.update(todo)
        tmp = path + ".tmp"
        self._exec(f"f=open({tmp!r},'wb')\nw=f.write")
        for i in range(0, len(data), self.chunk):
            self._exec(f"w({data[i:i + self.chunk]!r})")
        self._exec("f.close()\n" + _RENAME % (tmp, path, path, tmp, path))
