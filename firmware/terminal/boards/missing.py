# What build_drivers() (terminal/boards/__init__.py) puts in place of a device that failed to
# start, so that the terminal still boots, reports the fault and can be diagnosed. In its own
# module, imported only on a failure: a healthy boot does not load it. Not a board definition.

class MissingDevice:
    """Any device's calls, doing nothing; state "absent" and the reason in `error`."""

    def __init__(self, kind, error):
        self.kind, self.error, self.state = kind, error, "absent"

    def poll(self, *args):
        return None

    def show(self, lines):
        return False

    def play(self, name, now_ms):
        return False

    def tick(self, *args):
        return "down" if self.kind == "wifi" else False

    def trigger(self):
        pass

    def configure(self, *args):
        return self.state

    def check(self):
        return self.state

    def is_up(self):
        return False

    def rssi(self):
        return None

    def status(self):
        return {"state": self.state, "error": self.error}
