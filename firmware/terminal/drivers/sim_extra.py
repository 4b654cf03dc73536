# The simulated twins the unix_sim board does not build (see sim.py, which re-exports them on
# first use): the wires of a 4x4 keypad under the real Keypad driver, and a clock whose
# milliseconds move only when told, for tests and the simulator.

from terminal.drivers.sim import SimPin


class SimMatrix:
    """The wires of a 4x4 keypad: a column reads low while its row is driven low and a key
    joining them is down. press()/release() move the keys."""

    def __init__(self, keys="123A456B789C*0#D", nrows=4):
        self.keys, self.ncols = keys, len(keys) // nrows
        self.down = set()
        self.rows = [SimPin(1) for _ in range(nrows)]
        self.cols = [SimPin(1, self._reader(c)) for c in range(self.ncols)]

    def _reader(self, c):
        def read():
            for r, row in enumerate(self.rows):
                if row.value() == 0 and self.keys[r * self.ncols + c] in self.down:
                    return 0
            return 1  # the pull-up
        return read

    def press(self, key):
        self.down.add(key)

    def release(self, key):
        self.down.discard(key)


class SimClock:
    """True time plus a local clock that may be off by `offset` seconds; milliseconds move only
    when advance() is called (or sleep_ms, so a driver's wait moves it)."""

    def __init__(self, start=1767225600, offset=0):  # 2026-01-01T00:00:00Z
        self.start, self.offset, self.ms = start, offset, 0
        self.ntp_ok = True
        self.ntp_calls = 0

    def advance(self, ms):
        self.ms += ms

    sleep_ms = advance

    def ticks_ms(self):
        return self.ms

    def true_time(self):
        return self.start + self.ms // 1000

    def local(self):
        return self.true_time() + self.offset

    def set(self, unix_s):
        self.offset = unix_s - self.true_time()

    def ntp(self):
        self.ntp_calls += 1
        if not self.ntp_ok:
            raise OSError(110, "ETIMEDOUT")
        return self.true_time()

    def clock(self, **kw):
        from terminal.drivers.clock import Clock
        return Clock(source=self.ntp, local=self.local, setter=self.set, **kw)
