# 4x4 membrane keypad: rows driven as outputs, columns read as inputs with pull-ups. Idle rows
# sit high; scanning pulls one row low at a time, and a pressed key pulls its column low.
# Contacts bounce for a few milliseconds: a key counts only once the scan has read the same
# thing for debounce_ms, and a held key gives one press (no repeat) until it is released.
# Pins are any objects with value() / value(v) (machine.Pin on the board), so the scan logic
# is tested without hardware.

from terminal.drivers import ticks_diff

KEYS = "123A456B789C*0#D"


class Keypad:
    def __init__(self, rows, cols, keys=KEYS, debounce_ms=30):
        if len(keys) != len(rows) * len(cols):
            raise ValueError("keys do not match the matrix")
        self.rows, self.cols, self.keys = rows, cols, keys
        self.debounce_ms = debounce_ms
        self._raw = None  # what the last scan read
        self._since = None  # when it started reading that
        self._stable = None  # the debounced state
        self._reported = False  # the stable key was already given out
        for row in rows:
            row.value(1)

    def scan(self):
        """The one key down now, or None (nothing, or several keys: ghosting, ignored)."""
        found = None
        ncols = len(self.cols)
        for r, row in enumerate(self.rows):
            row.value(0)
            for c, col in enumerate(self.cols):
                if not col.value():
                    if found is not None:
                        row.value(1)
                        return None
                    found = self.keys[r * ncols + c]
            row.value(1)
        return found

    def poll(self, now_ms):
        """A key just pressed (debounced, once per press), or None."""
        raw = self.scan()
        if raw != self._raw or self._since is None:
            self._raw, self._since = raw, now_ms
            return None
        held = ticks_diff(now_ms, self._since)
        if held < self.debounce_ms:
            if held < 0:  # the clock went back: start counting again
                self._since = now_ms
            return None
        if raw != self._stable:
            self._stable, self._reported = raw, False
        if raw is not None and not self._reported:
            self._reported = True
            return raw
        return None
