"""TLS to the broker is the default outside dev mode: `fleet serve` with FLEET_MODE=prod
refuses a plain mqtt:// broker (debit requests carry full card numbers) and the embedded
plain broker, unless FLEET_ALLOW_PLAIN_MQTT=true says so; dev mode stays as it was.
Run as a user runs it, against the project's Mosquitto."""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from fleet_server.adapters.mosquitto import free_port
from fleet_server.settings import Settings

REPO = Path(__file__).resolve().parents[2]
FLEET = [sys.executable, "-m", "fleet_server.entrypoints.cli"]  # this checkout's code
SECRET = "a-real-production-master-secret-0123456789"


def serve(tmp_path, broker: str | None, **env_extra) -> tuple[int | None, str]:
    """Start `fleet serve`; (exit status, output) if it stops within 20 s, else (None, output
    so far) once /health answered (then it is stopped)."""
    env = dict(os.environ, FLEET_MODE="prod", FLEET_MASTER_SECRET=SECRET, **env_extra)
    if "FLEET_ALLOW_PLAIN_MQTT" not in env_extra:  # whatever the caller's shell says
        env.pop("FLEET_ALLOW_PLAIN_MQTT", None)
    http = free_port()
    args = [*FLEET, "serve", "--db", f"sqlite:///{tmp_path}/fleet.sqlite3", "--port", str(http),
            "--mqtt-port", str(free_port())] + (["--broker", broker] if broker else [])
    proc = subprocess.Popen(args, env=env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return proc.returncode, proc.communicate()[0]
            try:
                if httpx.get(f"http://127.0.0.1:{http}/health", timeout=1).status_code == 200:
                    return None, ""
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        return None, ""
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.communicate(timeout=20)


def test_prod_refuses_a_plain_broker_url(tmp_path, mosquitto):
    status, out = serve(tmp_path, f"mqtt://127.0.0.1:{mosquitto.port}")
    assert status == 1, "the server started on a plain broker in prod mode"
    assert "mqtts://" in out and "FLEET_ALLOW_PLAIN_MQTT" in out and "Traceback" not in out


def test_prod_refuses_the_embedded_plain_broker(tmp_path):
    status, out = serve(tmp_path, None)
    assert status == 1 and "embedded broker" in out and "Traceback" not in out


def test_the_explicit_opt_out_starts_it(tmp_path, mosquitto):
    status, _ = serve(tmp_path, f"mqtt://127.0.0.1:{mosquitto.port}",
                      FLEET_ALLOW_PLAIN_MQTT="true")
    assert status is None  # running, /health answered


def test_dev_mode_and_tls_urls_pass_the_check():
    assert Settings(mode="dev").plain_broker_refusal() is None
    assert Settings(mode="dev", broker_url="mqtt://h:1883").plain_broker_refusal() is None
    prod = dict(mode="prod", master_secret=SECRET)
    assert Settings(broker_url="mqtts://h:8883", **prod).plain_broker_refusal() is None
    assert "mqtts://" in Settings(broker_url="tcp://h:1883", **prod).plain_broker_refusal()
    assert Settings(broker_url="mqtts://a:8883, mqtts://b:8883", **prod
                    ).plain_broker_refusal() is None
    assert "mqtt://" in Settings(broker_url="mqtts://a:8883,mqtt://b:1883", **prod
                                 ).plain_broker_refusal()
