# Wall clock of the terminal. TLS certificate checks and the protocol's time window (a new
# request must be within minutes of the server clock, protocol/seq.py) both need true time, and
# an ESP32 boots at 2000-01-01: until an NTP sync the clock says synced=False and the runtime
# can refuse money requests rather than have them rejected as "ts_out_of_window".
#
# Times are integer Unix seconds throughout: the board's floats are single precision (24-bit
# mantissa), which cannot hold today's epoch to better than about two minutes.
#
# Board: ntp_time() via ntptime, set_rtc() via machine.RTC. Unix port and CPython: the system
# clock, kept right by the host, counts as synced (no source given). Tests and the simulator
# pass SimClock's functions.

import time

# Embedded MicroPython ports count from 2000-01-01, the unix port and CPython from 1970.
EPOCH_OFFSET = 946684800 if time.gmtime(0)[0] == 2000 else 0
MIN_PLAUSIBLE = 1704067200  # 2024-01-01: anything earlier is an unset clock


def system_time():
    return int(time.time()) + EPOCH_OFFSET


def ntp_time(host="pool.ntp.org"):
    """Board only: one NTP query, Unix seconds. Raises OSError on timeout."""
    import ntptime
    ntptime.host = host
    return ntptime.time() + EPOCH_OFFSET  # ntptime answers in the port's own epoch


def set_rtc(unix_s):
    """Board only: set the RTC, so time.time() follows."""
    import machine
    tm = time.gmtime(unix_s - EPOCH_OFFSET)
    machine.RTC().datetime((tm[0], tm[1], tm[2], tm[6] + 1, tm[3], tm[4], tm[5], 0))


class Clock:
    def __init__(self, source=None, local=None, setter=None, resync_s=6 * 3600,
                 retry_s=60):
        self.source = source  # true time (NTP); None: the local clock is already true
        self.local = local or system_time
        self.setter = setter
        self.resync_s, self.retry_s = resync_s, retry_s
        self.drift_s = 0  # last correction: true time minus our clock, seconds
        self.last_sync = None  # local time of the last good sync
        self.last_error = None
        self.syncs = 0
        self._next = 0
        self.synced = source is None and self.local() >= MIN_PLAUSIBLE

    def now(self):
        return self.local()

    def due(self, now_s=None):
        """Time to ask NTP again (the runtime asks when the network is up)."""
        if self.source is None:
            return False
        now_s = self.local() if now_s is None else now_s
        return now_s >= self._next or now_s < self._next - self.resync_s - self.retry_s

    def sync(self):
        """One NTP query; True when the clock was set. Failures keep the old state."""
        if self.source is None:
            self.synced = self.local() >= MIN_PLAUSIBLE
            return self.synced
        before = self.local()
        try:
            true = int(self.source())
        except Exception as err:  # OSError (timeout, no route) on the board
            self.last_error = str(err) or "ntp failed"
            self._next = before + self.retry_s
            return False
        if true < MIN_PLAUSIBLE:
            self.last_error = "implausible NTP time %d" % true
            self._next = before + self.retry_s
            return False
        self.drift_s = true - before
        if self.setter is not None:
            self.setter(true)
        self.synced, self.last_sync, self.last_error = True, true, None
        self.syncs += 1
        self._next = true + self.resync_s
        return True

    def status(self):
        return {"synced": self.synced, "now": self.now(), "drift_s": self.drift_s,
                "last_sync": self.last_sync, "error": self.last_error}
