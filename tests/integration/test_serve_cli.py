"""`fleet seed-demo` then `fleet serve` as a user runs them: embedded broker, SQLite, /health,
and a signed sale from a demo terminal through the embedded broker."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fleet_stack import MqttTerminal

from fleet_server.adapters.mosquitto import free_port
from protocol import auth
from simulator.wire_terminal import WireTerminal

FLEET = str(Path(sys.executable).parent / "fleet")


def test_seeded_server_with_embedded_broker_answers_health_and_sells(tmp_path):
    db = f"sqlite:///{tmp_path}/fleet.sqlite3"
    env = dict(os.environ, FLEET_MODE="dev")
    seeded = subprocess.run([FLEET, "seed-demo", "--db", db, "--out", str(tmp_path / "codes")],
                            capture_output=True, text=True, env=env, timeout=120)
    assert seeded.returncode == 0, seeded.stderr
    assert "3 terminals" in seeded.stdout
    assert (tmp_path / "codes" / "codes.md").exists()
    assert oct((tmp_path / "codes" / "terminals.json").stat().st_mode & 0o777) == "0o600"
    http, mqtt_port = free_port(), free_port()
    server = subprocess.Popen([FLEET, "serve", "--db", db, "--port", str(http), "--mqtt-port",
                               str(mqtt_port)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        health = _wait_healthy(f"http://127.0.0.1:{http}/health")
        assert health["broker"] == {"connected": True, "embedded": True,
                                    "url": f"mqtt://127.0.0.1:{mqtt_port}"}
        assert health["database"] == {"ok": True, "backend": "sqlite"}
        info = json.loads((tmp_path / "codes" / "terminals.json").read_text())[0]
        codes = json.loads((tmp_path / "codes" / "codes.json").read_text())
        card = next(c["code"] for c in codes if c["kind"] == "card")
        wire = WireTerminal(info["device_id"], info["initial_key_id"],
                            bytes.fromhex(info["initial_key_hex"]))
        terminal = MqttTerminal(wire, f"mqtt://127.0.0.1:{mqtt_port}", auth.broker_password(
            bytes.fromhex(info["command_key_hex"])))
        try:
            _pending, result = terminal.sale(card, 450, "books")
            assert result["st"] == "approved" and result["amt"] == 450
        finally:
            terminal.close()
    finally:
        server.terminate()
        out = server.communicate(timeout=20)[0]
    assert "Traceback" not in out, out


def test_placeholder_master_secret_is_refused_outside_dev_mode(tmp_path):
    env = dict(os.environ, FLEET_MODE="prod", FLEET_MASTER_SECRET="changeme")
    result = subprocess.run([FLEET, "db-upgrade", "--db", f"sqlite:///{tmp_path}/x.sqlite3"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode != 0
    assert "FLEET_MASTER_SECRET" in result.stderr and "Traceback" not in result.stderr


def _wait_healthy(url: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            body = httpx.get(url, timeout=2).json()
            if body["status"] == "ok":
                return body
            last = body
        except httpx.HTTPError as err:
            last = err
        time.sleep(0.3)
    pytest.fail(f"server not healthy: {last}")
