"""A busy port stops `fleet demo` and `fleet serve` with one line naming the port and the
option that changes it, before anything is seeded or written."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from fleet_server.adapters.mosquitto import free_port

FLEET = str(Path(sys.executable).parent / "fleet")


@pytest.fixture
def taken():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


def _run(tmp_path, *args):
    env = {**os.environ, "FLEET_MASTER_SECRET": "busy-ports-test-secret-0123456789abc"}
    return subprocess.run([FLEET, *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("command", ["demo", "serve"])
def test_a_busy_web_port_is_named_with_the_option_and_nothing_is_written(tmp_path, taken,
                                                                          command):
    done = _run(tmp_path, command, "--port", str(taken), "--mqtt-port", str(free_port()))
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert f"port {taken} on 127.0.0.1 (web server) is already in use" in line
    assert "--port N" in line
    assert ("make demo PORT=N" in line) == (command == "demo")
    assert list(tmp_path.iterdir()) == []  # no database, no demo codes


def test_a_busy_broker_port_is_named_with_its_option(tmp_path, taken):
    done = _run(tmp_path, "demo", "--port", str(free_port()), "--mqtt-port", str(taken))
    assert done.returncode == 1
    assert "(embedded MQTT broker) is already in use" in done.stderr
    assert "--mqtt-port N (make demo MQTT_PORT=N)" in done.stderr
    assert list(tmp_path.iterdir()) == []
