"""One simulated terminal in this process: the firmware's own Runtime, CounterApp, KeyVault,
Journal, RingLog and MQTT client, on the drivers of the firmware's simulated board
(terminal/boards/unix_sim.py: GM65Scanner on a SimUART, Screen on a SimDisplay, SimKeypad,
Buzzer/Led twins), assembled by the same function as firmware/main.py
(terminal/assemble.py), update agent included: a campaign reaches simulated terminals too.

What differs from main.py is only what a host process needs to run many of them and to inject
faults: the wall clock can be skewed, the network link can be cut (the MQTT client's socket
factory refuses, the open socket is shut), and "power" can be cut and restored (the objects are
dropped without a clean MQTT DISCONNECT and built again from the files on the flash directory,
whose journal then resolves the pending sale).
"""

import errno
import random
import socket

from terminal import runtime as _runtime_module
from terminal import store
from terminal.assemble import assemble
from terminal.boards import load
from terminal.drivers import ticks_diff, ticks_ms
from terminal.drivers.clock import Clock, system_time
from terminal.mqtt.client import open_tcp
from terminal.update import boot as slot_boot

from simulator.firmware import FIRMWARE

ESP32_FREE_AT_IDLE = (110 - 58) * 1024


class _HostGC:
    """What the runtime's `gc` does on a host with many terminals in one process.

    On the board gc.collect() before a heartbeat keeps the small heap unfragmented. On CPython
    a full collection walks the whole process, every terminal's objects included, so N
    terminals collecting once a minute would cost O(N^2): a young-generation pass is enough
    here.

    CPython has no mem_free, and this process's memory says nothing of a board's. The
    heartbeat (and the desk's memory chart) gets what an ESP32 without PSRAM has left at idle:
    about 110 KB of heap less the firmware's 58 KB measured at 32 bits (docs/firmware.md),
    give or take the garbage between two collections."""

    @staticmethod
    def collect():
        import gc

        gc.collect(0)

    @staticmethod
    def mem_free():
        return ESP32_FREE_AT_IDLE - random.randrange(0, 4096, 16)


_runtime_module.gc = _HostGC()


def _no_sync():
    """store.write_atomic's os.sync() is for a real power cut, which loses what the OS has not
    written yet. A simulated one drops the terminal's objects, not the OS's page cache, so the
    files (still written to a temp name and renamed) are all there; and os.sync() flushes the
    whole machine, once per write, which with thousands of terminals in one thread would be
    the benchmark. Terminals on the micropython binary keep their own store and its syncs."""


store._sync = _no_sync


class _DisplayTap:
    """The board's Screen, with every frame also handed to the simulator."""

    def __init__(self, screen, on_show):
        self.screen, self.on_show = screen, on_show

    def show(self, lines):
        self.screen.show(lines)
        self.on_show(list(lines))


class SimTerminal:
    """The firmware of one terminal, stepped by its owner (Engine or the interactive runner).

    `observer` (optional) gets sent(terminal, seq) when a money request was persisted and
    published, and result(terminal, seq, message, screen) when the app took a final result."""

    def __init__(self, root, observer=None, name=None):
        self.root = str(root)
        self.observer = observer
        self.skew_s = 0  # local clock minus true time
        self.link_up = True
        self.powered = False
        self.runtime = None
        self.drivers = None
        self.sock = None
        self.screen = []
        self.restart_requested = False
        self.config = store.load_json(self.root + "/config.json", {}) or {}
        self.device_id = (store.load_json(self.root + "/device.json", {}) or {}).get("device_id")
        self.name = name or self.device_id

    # ---- power -------------------------------------------------------------------------------
    def boot(self):
        """Power on: what firmware/main.py does before its loop. The boot selector reads the
        update state (a release on trial, a report to send) without switching code: all the
        terminals of this process run the repository's firmware, whatever release they hold."""
        info = slot_boot.select(self.root, use=False)
        runtime, drivers = assemble(
            self.root, load("unix_sim"), ticks_ms, ticks_diff, boot=info, code=str(FIRMWARE),
            on_restart=self._restart_command, socket_factory=self._open_socket,
            clock=Clock(local=self._local_time),
            display=lambda screen: _DisplayTap(screen, self._shown))
        self.device_id = runtime.dev
        self._tap(runtime.app)
        self.runtime, self.drivers, self.powered = runtime, drivers, True
        self.restart_requested = False
        runtime.start()
        return self

    def power_cut(self):
        """Power lost: no DISCONNECT (the broker publishes the will), RAM gone, flash kept."""
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock, self.runtime, self.drivers, self.powered = None, None, None, False
        self.screen = []

    def shutdown(self):
        """A clean stop (end of a run): "offline", then DISCONNECT, so the server sees it leave."""
        if self.runtime is not None:
            self.runtime.stop()
        self.power_cut()

    def _restart_command(self):
        self.restart_requested = True  # the owner reboots us after this step

    # ---- the loop ----------------------------------------------------------------------------
    def step(self):
        if not self.powered:
            return
        self.runtime.step()
        if self.restart_requested:
            self.power_cut()
            self.boot()

    # ---- the counter staff's hands -----------------------------------------------------------
    def scan(self, text):
        if self.powered:
            self.drivers["sim_uart"].scan(text)

    def press(self, keys):
        if self.powered:
            self.drivers["keypad"].press(keys)

    @property
    def app(self):
        return self.runtime.app if self.runtime is not None else None

    @property
    def online(self):
        return bool(self.runtime is not None and self.runtime.online)

    # ---- network -----------------------------------------------------------------------------
    def drop_connection(self):
        """The TCP connection dies under the client (it notices and reconnects)."""
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def set_link(self, up):
        self.link_up = bool(up)
        if not up:
            self.drop_connection()
        elif self.runtime is not None:
            self.runtime.mqtt.reconnect_now()

    def _open_socket(self, host, port):
        if not self.link_up:
            raise OSError(errno.ENETUNREACH, "network down (simulated)")
        self.sock = open_tcp(host, port)
        return self.sock

    def _local_time(self):
        return system_time() + self.skew_s

    # ---- observation -------------------------------------------------------------------------
    def _shown(self, lines):
        self.screen = lines

    def _tap(self, app):
        handle = app.handle

        def tapped(event):
            before = app.pending_seq
            out = handle(event)
            observer = self.observer
            if observer is not None and isinstance(event, tuple) and event:
                if event[0] == "sent":
                    observer.sent(self, event[1])
                elif event[0] == "result" and before is not None and app.pending is None:
                    observer.result(self, before, event[1], list(app.screen))
            return out

        app.handle = tapped
