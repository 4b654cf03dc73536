# Wi-Fi station that keeps itself connected. tick(now_ms) from the main loop drives it: connect,
# wait for the link, and after a failure or a drop try again with a doubling backoff (plus
# jitter, so a fleet does not hammer an access point that just came back all at the same
# second). Never blocks: ESP32's WLAN.connect() returns at once and the link is polled.
# Works on network.WLAN (board only) or on any object with the same methods (SimWifi).

import random

from terminal.drivers import ticks_diff

DOWN = "down"
CONNECTING = "connecting"
UP = "up"


def _network_fail_codes():
    try:
        import network
    except ImportError:  # unix port, CPython: the twin says which codes are failures
        return ()
    names = ("STAT_WRONG_PASSWORD", "STAT_NO_AP_FOUND", "STAT_CONNECT_FAIL")
    return tuple(getattr(network, n) for n in names if hasattr(network, n))


class WifiStation:
    def __init__(self, ssid, password, wlan=None, connect_timeout_ms=20000,
                 backoff_min_ms=2000, backoff_max_ms=120000, fail_codes=None, rand=None):
        if wlan is None:
            import network
            wlan = network.WLAN(network.STA_IF)
        self.wlan, self.ssid, self.password = wlan, ssid, password
        self.connect_timeout_ms = connect_timeout_ms
        self.backoff_min_ms, self.backoff_max_ms = backoff_min_ms, backoff_max_ms
        if fail_codes is None:
            fail_codes = getattr(wlan, "FAIL_CODES", None) or _network_fail_codes()
        self.fail_codes = fail_codes
        self._rand = rand or random.getrandbits
        self.state = DOWN
        self.attempts = 0  # failed attempts since the last success
        self.connects = 0
        self.drops = 0
        self.last_error = None
        self._backoff = backoff_min_ms
        self._next = None  # when to try again; None: now
        self._started = 0

    def _connected(self):
        try:
            return bool(self.wlan.isconnected())
        except Exception:
            return False

    def _start(self, now_ms):
        self._started = now_ms
        self.state = CONNECTING
        try:
            self.wlan.active(True)
            self.wlan.connect(self.ssid, self.password)
        except Exception as err:  # ESP32 raises OSError("Wifi Internal Error") on some states
            self._failed(now_ms, "connect: %s" % err)

    def _failed(self, now_ms, why):
        self.last_error = why
        self.attempts += 1
        self.state = DOWN
        try:
            self.wlan.disconnect()
        except Exception:
            pass
        jitter = self._rand(16) * (self._backoff // 2) // 65536
        self._next = now_ms + self._backoff // 2 + jitter  # between half and the whole backoff
        self._backoff = min(self._backoff * 2, self.backoff_max_ms)

    def tick(self, now_ms):
        connected = self._connected()
        if self.state == UP:
            if connected:
                return UP
            self.drops += 1  # the link dropped: try again at once, back off only on failure
            self.state, self._next, self.last_error = DOWN, None, "link lost"
        if self.state == CONNECTING:
            if connected:
                self.state, self.attempts, self.last_error = UP, 0, None
                self._backoff = self.backoff_min_ms
                self.connects += 1
                return UP
            try:
                status = self.wlan.status()
            except Exception:
                status = None
            if status in self.fail_codes:
                self._failed(now_ms, "status %s" % status)
            elif not 0 <= ticks_diff(now_ms, self._started) < self.connect_timeout_ms:
                self._failed(now_ms, "timeout")
            return self.state
        if self._next is None or not -600000 <= ticks_diff(now_ms, self._next) < 0:
            self._start(now_ms)
        return self.state

    def is_up(self):
        return self.state == UP

    def rssi(self):
        if self.state != UP:
            return None
        try:
            return self.wlan.status("rssi")
        except Exception:
            return None

    def ip(self):
        try:
            return self.wlan.ifconfig()[0] if self.state == UP else None
        except Exception:
            return None

    def status(self):
        return {"state": self.state, "rssi": self.rssi(), "ip": self.ip(),
                "attempts": self.attempts, "connects": self.connects, "drops": self.drops,
                "error": self.last_error}
