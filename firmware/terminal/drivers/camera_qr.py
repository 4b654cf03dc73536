# Optional QR reading from a camera, for boards without a UART scanner module.
#
# Decoding a QR code from a camera frame needs a native decoder compiled into the firmware:
# stock MicroPython has none, and a pure-Python decoder is far too slow and large for an ESP32.
# M5Stack's MicroPython firmware (UiFlow2) for its camera boards (CoreS3, AtomS3R-CAM) has one:
#     camera.init(pixformat=camera.RGB565, framesize=camera.QVGA)
#     img = camera.snapshot()
#     code = code_scanner.find_qrcodes(img)   # an image.QRCode or None
#     code.payload()                          # the decoded text
# (docs: m5stack/uiflow-micropython, docs/en/advanced code_scanner.) This driver uses that
# module when the firmware has it; on any other build, constructing it raises
# CameraUnavailable with that explanation. There is no simulated decoder here on purpose: the
# simulator uses the GM65 twin (sim.SimUART), which exercises the same poll() interface.

from terminal.drivers import ticks_diff

OK = "ok"
ABSENT = "absent"
FAULT = "fault"

UNAVAILABLE = ("QR decoding from the camera is not available in this firmware build: it needs a "
               "native decoder module (code_scanner, as in M5Stack's firmware for its camera "
               "boards); stock MicroPython has none. Use a UART scanner module (GM65 family).")


class CameraUnavailable(Exception):
    pass


def available():
    try:
        import code_scanner  # noqa: F401
    except ImportError:
        return False
    return True


class CameraQR:
    """Same interface as GM65Scanner: poll() -> text or None, .state."""

    def __init__(self, camera=None, decoder=None, repeat_ms=2000, clock=None):
        if decoder is None:
            try:
                import code_scanner as decoder
            except ImportError:
                raise CameraUnavailable(UNAVAILABLE) from None
        if camera is None:
            import camera
            camera.init(pixformat=camera.RGB565, framesize=camera.QVGA)
        self.camera, self.decoder = camera, decoder
        self.repeat_ms = repeat_ms  # the same code held in front of the lens is one scan
        if clock is None:
            from terminal.drivers import ticks_ms as clock
        self._clock = clock
        self._last, self._last_at = None, 0
        self.state, self.error = OK, None

    def poll(self):
        try:
            code = self.decoder.find_qrcodes(self.camera.snapshot())
            text = code.payload() if code else None
            if isinstance(text, bytes):
                text = text.decode()
        except Exception as err:  # a camera error must not stop the main loop
            self.state, self.error = FAULT, str(err)
            return None
        self.state = OK
        if not text:
            return None
        now = self._clock()
        if text == self._last and ticks_diff(now, self._last_at) < self.repeat_ms:
            self._last_at = now
            return None
        self._last, self._last_at = text, now
        return text

    def trigger(self):
        pass  # the camera reads continuously

    def configure(self, baud=None, terminator=None):
        return self.state

    def check(self):
        return self.state

    def status(self):
        return {"state": self.state, "error": self.error, "kind": "camera"}
