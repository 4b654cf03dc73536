# Boot entry of the counter terminal.
#
# On a board: MicroPython runs this file from the flash root, next to terminal/ and protocol/.
# On the unix port (CI, simulator): micropython firmware/main.py <data dir> [board]; the
# simulated board then reads commands on stdin ("scan CODE", "keys 12A", "quit") and prints
# every screen as one line "SCREEN line1|line2|...".

import sys

try:
    import time

    ticks_ms, ticks_diff = time.ticks_ms, time.ticks_diff
except AttributeError:  # CPython (the simulator's fast mode)
    import time

    def ticks_ms():
        return int(time.monotonic() * 1000)

    def ticks_diff(a, b):
        return a - b


def _here():
    path = __file__ if "__file__" in globals() else "main.py"
    return path.rsplit("/", 1)[0] if "/" in path else "."


def _paths():
    here = _here()
    for extra in (here, here + "/.."):
        if extra not in sys.path:
            sys.path.insert(0, extra)


_paths()

# The boot selector chooses this boot's code (a release installed by an update in
# DATA/slots/<slot>, or the factory code beside this file), before the application is imported.
from terminal.update import boot as _slot_boot  # noqa: E402

_BOOT = _slot_boot.select(sys.argv[1] if len(sys.argv) > 1 else "") \
    if __name__ == "__main__" else {"slot": None, "rel": None, "trial": None, "pending": False}

from terminal import store  # noqa: E402
from terminal.assemble import assemble  # noqa: E402
from terminal.boards import load  # noqa: E402


class _EchoScreen:
    """The simulated board's screen, also printed so a parent process can read it."""

    def __init__(self, screen):
        self.screen = screen

    def show(self, lines):
        self.screen.show(lines)
        sys.stdout.write("SCREEN " + "|".join(lines) + "\n")


def build(root, board_name=None):
    board = load(board_name or (store.load_json(root + "/config.json", {}) or {}).get("board"))
    runtime, drivers = assemble(root, board, ticks_ms, ticks_diff, boot=_BOOT, code=_here(),
                                on_restart=_restart)
    return runtime, drivers, board


def _restart():
    try:
        import machine

        machine.reset()
    except (ImportError, AttributeError):  # the unix port (its machine has no reset): the
        # parent process starts us again
        sys.exit(3)


def _stdin_commands():
    import select

    poller = select.poll()
    poller.register(sys.stdin, select.POLLIN)
    return poller


WATCHDOG_MS = 60000  # far above one loop step, even with a TLS handshake or a flash install


def _watchdog(board, trial):
    """On a board, a release on trial that hangs must not stay hung: the watchdog resets the
    board and the next boot returns to the previous slot. Armed for trials only, and fed for
    the rest of the run, since an ESP32's watchdog cannot be stopped once started."""
    if not trial or board["name"] == "unix_sim":
        return None
    try:
        from machine import WDT
    except ImportError:
        return None
    return WDT(timeout=WATCHDOG_MS)


def _reset_after_crash(err):
    """A board that crashed must not wait at the REPL for someone to press RESET: it prints
    the error (on the serial console) and resets, so a trial that fails rolls back by itself
    and a terminal in a shop comes back. The unix port (no machine.reset) lets it propagate."""
    try:
        import machine

        reset = machine.reset
    except (ImportError, AttributeError):
        return False
    if hasattr(sys, "print_exception"):
        sys.print_exception(err)
    time.sleep(2)
    reset()
    return True


def run(root, board_name=None):
    runtime, drivers, board = build(root, board_name)
    sim = board["name"] == "unix_sim"
    poller = None
    if sim:
        drivers["display"] = _EchoScreen(drivers["display"])
        poller = _stdin_commands()
    wdt = _watchdog(board, _BOOT.get("trial"))
    runtime.start()
    while True:
        runtime.step()
        if wdt is not None:
            wdt.feed()
        if poller is not None and poller.poll(0):
            line = sys.stdin.readline()
            if not line or line.strip() == "quit":
                runtime.stop()
                return
            _sim_command(line.strip(), drivers)
        time.sleep_ms(5) if hasattr(time, "sleep_ms") else time.sleep(0.005)


def _sim_command(line, drivers):
    verb, _, rest = line.partition(" ")
    if verb == "scan":
        drivers["sim_uart"].scan(rest)
    elif verb == "keys":
        drivers["keypad"].press(rest)


if __name__ == "__main__":
    args = sys.argv[1:]
    try:
        run(args[0] if args else "", args[1] if len(args) > 1 else None)
    except Exception as crash:  # noqa: BLE001 - whatever it is, a board must come back
        if not _reset_after_crash(crash):
            raise
