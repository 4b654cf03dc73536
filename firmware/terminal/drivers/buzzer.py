# Buzzer tunes and LED patterns, played without blocking: play() starts a pattern, tick(now_ms)
# from the main loop moves it on. A blocking sleep would freeze the keypad, the scanner and MQTT
# for the length of a tune.
#
# Buzzer: a passive buzzer on a PWM pin (machine.PWM: freq(f), duty_u16(d)); a step is
# (frequency Hz, duration ms), frequency 0 is a rest. LED: a pin (value(v)); a step is
# (level 0/1, duration ms); LED patterns loop until another one is set, tunes play once.

from terminal.drivers import ticks_diff

BUZZER_PATTERNS = {
    "click": ((4000, 12),),  # key taken: short and high, does not tire the staff
    "alert": ((1800, 70), (0, 50), (1800, 70), (0, 50), (1800, 70)),  # key refused
    "happy": ((1047, 90), (0, 20), (1319, 90), (0, 20), (1568, 180)),  # C6 E6 G6: approved
    "sad": ((440, 220), (0, 60), (262, 420)),  # A4 then C4, falling: refused or error
}

LED_PATTERNS = {
    "idle": ((1, 60), (0, 2940)),  # a short blink every 3 s: alive, nothing to do
    "offline": ((1, 500), (0, 500)),
    "wait": ((1, 100), (0, 100)),
    "ok": ((1, 1000),),  # steady on
    "fail": ((1, 100), (0, 100), (1, 100), (0, 700)),
    "update": ((1, 1500), (0, 500)),
    "off": ((0, 1000),),
}


class Sequencer:
    """Steps through (value, ms) lists; subclasses say what a value does to the hardware."""

    loop = False

    def __init__(self, patterns):
        self.patterns = patterns
        self.name = None
        self._steps = ()
        self._index = 0
        self._until = 0

    def play(self, name, now_ms):
        steps = self.patterns.get(name)
        if not steps:
            return False
        self.name, self._steps, self._index = name, steps, 0
        self._start(now_ms)
        return True

    def _start(self, now_ms):
        value, ms = self._steps[self._index]
        self._until = now_ms + ms
        self.output(value)

    def tick(self, now_ms):
        """Move on; returns True while a pattern plays."""
        if not self._steps:
            return False
        if abs(ticks_diff(now_ms, self._until)) > 60000:  # the clock jumped: restart the step
            self._until = now_ms
        moved = False
        # A late tick skips the steps already over, unplayed.
        while ticks_diff(now_ms, self._until) >= 0:
            self._index += 1
            if self._index >= len(self._steps):
                if not self.loop:
                    self.stop()
                    return False
                self._index = 0
            self._until += self._steps[self._index][1]
            moved = True
        if moved:
            self.output(self._steps[self._index][0])
        return True

    @property
    def busy(self):
        return bool(self._steps)

    def stop(self):
        self._steps, self.name = (), None
        self.output(0)

    def output(self, value):
        raise NotImplementedError


class Buzzer(Sequencer):
    def __init__(self, pwm, patterns=BUZZER_PATTERNS, duty=32768):
        self.pwm, self.duty = pwm, duty  # half duty: the loudest square wave
        Sequencer.__init__(self, patterns)
        pwm.duty_u16(0)

    def output(self, freq):
        if freq:
            self.pwm.freq(freq)
            self.pwm.duty_u16(self.duty)
        else:
            self.pwm.duty_u16(0)


class Led(Sequencer):
    loop = True

    def __init__(self, pin, patterns=LED_PATTERNS, invert=False):
        self.pin, self.invert = pin, invert  # invert: LED wired to 3V3, on when the pin is low
        Sequencer.__init__(self, patterns)
        self.output(0)

    def output(self, level):
        self.pin.value((not level) if self.invert else (1 if level else 0))
