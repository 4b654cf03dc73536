"""What the tests of the terminal's MQTT client on real brokers share
(tests/integration/test_firmware_mqtt_*.py, test_firmware_failover.py): the agent script
tests/micropython/mqtt_agent.py run in a subprocess on the MicroPython binary or on CPython, its
output lines collected as they come, and a paho client watching topics beside it."""

import queue
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests/micropython/mqtt_agent.py"


class Agent:
    """mqtt_agent.py in a subprocess; its stdout lines are collected by a thread."""

    def __init__(self, command):
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, cwd=REPO)
        self.lines, self._queue = [], queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self._queue.put((time.monotonic(), line.rstrip("\n")))

    def expect(self, text, timeout=15.0):
        """Waits for a line starting with text; returns the time it arrived."""
        for at, line in self.lines:
            if line.startswith(text):
                return at
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                at, line = self._queue.get(timeout=0.05)
            except queue.Empty:
                continue
            self.lines.append((at, line))
            if line.startswith(text):
                return at
        raise AssertionError(f"no line {text!r} in {timeout}s; got:\n" + self.output())

    def drain(self):
        while not self._queue.empty():
            self.lines.append(self._queue.get())

    def output(self):
        return "\n".join(line for _, line in self.lines)

    def kill(self):
        self.proc.kill()
        self.proc.wait(5)


@pytest.fixture(params=["micropython", "cpython"])
def start_agent(request):
    agents = []

    def start(port, client_id, backoff_ms=1000, tls=()):
        if request.param == "micropython":
            command = [request.getfixturevalue("micropython_bin"), "-X", "heapsize=256K"]
        else:
            command = [sys.executable]
        agent = Agent(command + [str(SCRIPT), str(REPO), str(port), client_id,
                                 str(backoff_ms), *tls])
        agents.append(agent)
        return agent

    start.runtime = request.param
    yield start
    for agent in agents:
        agent.kill()


class Watcher:
    """A paho subscriber that records (topic, payload, retain) as they arrive."""

    def __init__(self, port, topic):
        self.got = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id="w-" + uuid.uuid4().hex)
        self.client.on_message = lambda c, u, m: self.got.put((m.topic, m.payload, m.retain))
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, 1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def wait_for(self, payload, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                message = self.got.get(timeout=0.1)
            except queue.Empty:
                continue
            if message[1] == payload:
                return message
        raise AssertionError(f"no {payload!r} within {timeout}s")

    def publish(self, topic, payload):
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()
