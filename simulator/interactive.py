"""`terminal-sim run`: one terminal, its screen in the console (and optionally a small local
web page), its keypad on the keyboard, its scanner fed by a typed code, a QR image or a demo
code picked from the list.

Commands (one per line):
  12A, *, #, D ...   keypad keys (0-9 A B C D * #), several at once
  scan CODE          a code in front of the scanner
  qr FILE            the QR code in an image file (decoded with zxing-cpp)
  codes              the demo beneficiaries, vouchers and coupons;  pick N  scans the Nth
  quit
"""

import json
import queue
import sys
import threading
import time
from pathlib import Path

from rich.console import Console
from rich.panel import Panel

from simulator.qr import QrError, decode_file

KEYS = set("0123456789ABCD*#")


def screen_panel(lines: list[str], title: str = "") -> Panel:
    """The 128x64 screen: 8 lines of 16 characters, as the firmware drew them."""
    rows = [(line or "")[:16].ljust(16) for line in (lines or [])[:8]]
    rows += [" " * 16] * (8 - len(rows))
    return Panel("\n".join(rows), title=title, expand=False, border_style="green")


class Session:
    """The terminal plus what the person can do to it; commands come from any thread."""

    def __init__(self, terminal, codes: list[dict], console: Console | None = None):
        self.terminal, self.codes = terminal, codes
        self.console = console or Console()
        self.commands: queue.Queue = queue.Queue()
        self.running = True
        self.messages: list[str] = []

    def say(self, text: str) -> None:
        self.messages = (self.messages + [text])[-5:]
        self.console.print(text)

    def handle(self, line: str) -> None:
        line = line.strip()
        verb, _, rest = line.partition(" ")
        rest = rest.strip()
        if not line:
            return
        if verb in ("quit", "exit"):
            self.running = False
        elif verb == "scan" and rest:
            self.terminal.scan(rest[:200])
        elif verb == "qr" and rest:
            try:
                text = decode_file(rest)
            except QrError as err:
                return self.say(f"[red]{err}[/red]")
            self.say(f"QR code read: {text}")
            self.terminal.scan(text)
        elif verb == "codes":
            for n, code in enumerate(self.codes, 1):
                self.say(f"{n:2d}  {code['code']:<14} {code['kind']:<8} {code['description']}")
        elif verb == "pick" and rest.isdigit() and 1 <= int(rest) <= len(self.codes):
            self.terminal.scan(self.codes[int(rest) - 1]["code"])
        elif all(c in KEYS for c in line.upper()):
            self.terminal.press(line.upper())
        else:
            self.say("keys (0-9 A B C D * #), scan CODE, qr FILE, codes, pick N, quit")

    def run(self) -> None:
        """Step the terminal, draw each new screen, until "quit"."""
        shown = None
        while self.running:
            while not self.commands.empty():
                self.handle(self.commands.get())
            self.terminal.step()
            if self.terminal.screen != shown:
                shown = list(self.terminal.screen)
                self.console.print(screen_panel(shown, self.terminal.name or ""))
            time.sleep(0.01)

    def read_stdin(self, quit_at_end: bool = True) -> None:
        for line in sys.stdin:
            self.commands.put(line)
        if quit_at_end:  # with a web page, no console input is fine: Ctrl-C stops it
            self.commands.put("quit")


def load_codes(folder: Path | None) -> list[dict]:
    if folder is None or not (Path(folder) / "codes.json").exists():
        return []
    try:
        return json.loads((Path(folder) / "codes.json").read_text(encoding="utf-8"))
    except ValueError:
        return []


def run_session(terminal, codes: list[dict], web_port: int | None = None) -> int:
    session = Session(terminal, codes)
    session.say(__doc__.split("Commands", 1)[1].strip().split("\n", 1)[1])
    if web_port:
        from simulator.web import serve

        url = serve(session, web_port)
        session.say(f"web page: {url}")
    threading.Thread(target=session.read_stdin, args=(not web_port,), daemon=True).start()
    terminal.boot()
    try:
        session.run()
    except KeyboardInterrupt:
        pass
    finally:
        terminal.shutdown()
    return 0
