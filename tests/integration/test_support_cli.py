"""`fleet support` against a running server (uvicorn on a free port), the project's Mosquitto
and a protocol-level terminal: find, status, diag (each check printed), logs, restart with a
reason, a queued restart for an offline terminal, interventions, alerts."""

import os
import re
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
import uvicorn
from fleet_stack import Stack
from polling import eventually
from test_support_desk import CommandTerminal

from fleet_server.adapters.api_tokens import issue_token
from fleet_server.entrypoints import cli
from fleet_server.entrypoints.app import create_app

pytestmark = [pytest.mark.broker]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(mosquitto, tmp_path):
    stack = Stack(mosquitto.url, f"sqlite:///{tmp_path}/fleet.sqlite3").start()
    stack.setup_program()
    shop = stack.partner("Théâtre du Port")
    wire = stack.terminal(shop)
    wire.close()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(stack.fleet), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    eventually(lambda: server.started, timeout=10, what="the server started")
    token = issue_token(stack.fleet.session_factory, "support", None,
                        "cli-" + uuid.uuid4().hex[:6])
    terminal = CommandTerminal(mosquitto, wire.wire.device_id,
                               stack.fleet.keys.command_key(wire.wire.device_id, 1))
    yield stack, terminal, ["support", "--url", f"http://127.0.0.1:{port}", "--token", token]
    terminal.close()
    server.should_exit = True
    thread.join(10)
    stack.stop()


def run(capsys, argv) -> tuple[int, str]:
    code = cli.main(argv)
    return code, capsys.readouterr().out


def test_the_desk_from_a_shell(served, capsys):
    stack, terminal, base = served
    dev = terminal.dev
    code, out = run(capsys, base + ["alerts"])
    assert code == 0 and out.strip() == "Aucune alerte active : tout va bien."
    terminal.heartbeat(scn="fault")
    eventually(lambda: stack.fleet.support.status.connection(dev),
               until=lambda c: c == "online")
    code, out = run(capsys, base + ["find", "théâtre"])
    assert code == 0 and dev in out and "en ligne" in out
    code, out = run(capsys, base + ["status", dev])
    assert "Théâtre du Port" in out and "connexion : en ligne" in out
    assert "lecteur : en panne" in out and "(dernier : mise sous tension)" in out
    assert re.search(r"vu le : \d\d/\d\d/\d{4} \d\d:\d\d:\d\d", out)
    code, out = run(capsys, base + ["diag", dev, "--reason", "lecteur muet"])
    assert code == 0 and "résultat : réussie" in out, out
    assert re.search(r"OK +Réseau", out) and re.search(r"OK +Lecteur", out)
    code, out = run(capsys, base + ["logs", dev, "--reason", "voir la nuit", "--lines", "5"])
    assert code == 0 and "  boot" in out, out
    assert cli.main(base + ["restart", dev]) == 2  # --reason is required
    assert "indiquez la raison" in capsys.readouterr().err
    terminal.drop()
    eventually(lambda: stack.fleet.support.status.connection(dev),
               until=lambda c: c == "offline")
    code, out = run(capsys, base + ["restart", dev, "--reason", "bloqué"])
    assert code == 0 and "en attente du terminal" in out, out
    stack.fleet.support.check_alerts()
    code, out = run(capsys, base + ["alerts"])
    assert "Lecteur de codes en panne" not in out and "lecteur en panne" in out
    code, out = run(capsys, base + ["interventions", dev])
    assert "Panne matérielle" in out  # opened by the scanner fault alert
    code, out = run(capsys, base[:-1] + ["wrong-token", "find"])
    assert code == 1


def test_the_shell_speaks_french_without_library_log_lines(served):
    """As run from a terminal: the CLI's output only, one clear line for a too-short reason."""
    _stack, terminal, base = served
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))

    def shell(*argv):
        done = subprocess.run([sys.executable, "-m", "fleet_server.entrypoints.cli", *base,
                               *argv], capture_output=True, text=True, env=env, timeout=60)
        return done.returncode, done.stdout, done.stderr

    code, out, err = shell("alerts")
    assert (code, out, err) == (0, "Aucune alerte active : tout va bien.\n", "")
    code, out, err = shell("restart", terminal.dev, "--reason", "x")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("fleet support : la raison doit faire de 3 à 500 caractères")
    code, out, err = shell("find", "personne")
    assert (code, out, err) == (0, "", "Aucun terminal ne correspond.\n")
    away = subprocess.run([sys.executable, "-m", "fleet_server.entrypoints.cli", "support",
                           "--url", "http://127.0.0.1:9", "--token", "x", "alerts"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert away.returncode == 1 and away.stdout == "" and away.stderr == (
        "fleet support : serveur injoignable (127.0.0.1:9) : vérifiez FLEET_API_URL ou --url, "
        "et que le serveur tourne\n")
