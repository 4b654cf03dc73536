"""End to end: the real firmware on the MicroPython binary sells through the project's Mosquitto,
the fleet server and the reference ledger; a reboot mid-sale asks again with the same seq."""

import json
import queue
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fleet_stack import Stack

from fleet_server.service_layer import registry

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "firmware"))

from terminal.keys import KeyVault  # noqa: E402

pytestmark = [pytest.mark.broker, pytest.mark.micropython]


class FirmwareProcess:
    """firmware/main.py on the micropython binary with the simulated board: we type and scan on
    its stdin and read its screens on its stdout."""

    def __init__(self, binary: str, root: Path):
        self.proc = subprocess.Popen(
            [binary, "-X", "heapsize=2M", str(REPO / "firmware" / "main.py"), str(root),
             "unix_sim"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def send(self, command: str) -> None:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def wait_screen(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            if line.startswith("SCREEN") and text in line:
                return line
        raise AssertionError(f"no screen with {text!r}; last output:\n" +
                             "\n".join(self.seen[-25:]))

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()


@pytest.fixture
def stack(mosquitto, tmp_path):
    stack = Stack(mosquitto.url, f"sqlite:///{tmp_path}/fleet.sqlite3").start()
    stack.setup_program()
    yield stack
    stack.stop()


def provision(stack, partner_id: str, root: Path, broker) -> str:
    secrets = registry.register_device(stack.fleet.uow(), stack.fleet.keys, "esp32-gm65",
                                       datetime.now(UTC))
    registry.assign_device(stack.fleet.uow(), secrets.device_id, partner_id)
    registry.change_state(stack.fleet.uow(), secrets.device_id, "activate")
    root.mkdir()
    KeyVault.provision(str(root), secrets.device_id, secrets.initial_key_id,
                       secrets.initial_key_hex, secrets.command_key_hex)
    (root / "config.json").write_text(json.dumps(
        {"board": "unix_sim", "broker": {"host": broker.host, "port": broker.port}}))
    return secrets.device_id


def test_the_firmware_on_micropython_completes_a_sale(stack, mosquitto, micropython_bin,
                                                      tmp_path):
    bookshop = stack.partner("Librairie des Écoles", categories=("books",))
    card = stack.beneficiary({"books": (2000, 600)})
    provision(stack, bookshop, tmp_path / "flash", mosquitto)
    terminal = FirmwareProcess(micropython_bin, tmp_path / "flash")
    try:
        terminal.wait_screen("Librairie des")  # online, configured by the server
        terminal.send("scan " + card)
        terminal.send("keys 500A")
        terminal.wait_screen("5,00 EUR")
        terminal.send("keys A")
        terminal.wait_screen("VENTE ACCEPTEE")
        assert stack.ledger.balances(card)[0].balance_cents == 1500
        terminal.send("keys B")
        terminal.send("scan " + card)
        # The server's config carries the books cap: shown, and a digit past it refused at
        # the counter with the reason, before anything is sent.
        assert "|Max     6,00 EUR|" in terminal.wait_screen("MONTANT")
        terminal.send("keys 900")
        terminal.wait_screen("|Plafond par|achat depasse|Max     6,00 EUR|")
        terminal.send("keys B")
        terminal.wait_screen("PRET")
        assert stack.ledger.balances(card)[0].balance_cents == 1500
    finally:
        terminal.stop()


def test_a_clean_stop_shows_offline_on_the_desk_at_once(stack, mosquitto, micropython_bin,
                                                        tmp_path):
    shop = stack.partner("Librairie du Quai", categories=("books",))
    dev = provision(stack, shop, tmp_path / "flash", mosquitto)
    status = stack.fleet.dispatcher.status
    terminal = FirmwareProcess(micropython_bin, tmp_path / "flash")
    try:
        terminal.wait_screen("Librairie du")
        assert status.connection(dev) == "online"
    finally:
        terminal.stop()  # "quit": a clean DISCONNECT, which drops the last will
    deadline = time.monotonic() + 3
    while status.connection(dev) != "offline":  # not after three silent heartbeats
        assert time.monotonic() < deadline, status.view(dev)
        time.sleep(0.05)


def test_a_reboot_between_send_and_result_shows_the_real_outcome_once(
        stack, mosquitto, micropython_bin, tmp_path):
    bookshop = stack.partner("Librairie du Port", categories=("books",))
    card = stack.beneficiary({"books": (2000, None)})
    root = tmp_path / "flash"
    provision(stack, bookshop, root, mosquitto)
    stack.fleet.bus.client.unsubscribe("t/+/debit/req")  # the server stops hearing sales
    terminal = FirmwareProcess(micropython_bin, root)
    try:
        terminal.wait_screen("Librairie du")
        terminal.send("scan " + card)
        terminal.send("keys 700A")
        terminal.wait_screen("7,00 EUR")
        terminal.send("keys A")
        deadline = time.monotonic() + 10
        while not (root / "journal.json").exists():
            assert time.monotonic() < deadline, "nothing was journaled"
            time.sleep(0.05)
        terminal.kill()  # power cut while waiting for the answer
    finally:
        terminal.stop()
    stack.fleet.bus.client.subscribe("t/+/debit/req", qos=1)
    again = FirmwareProcess(micropython_bin, root)
    try:
        again.wait_screen("VENTE ACCEPTEE", timeout=30)
        assert stack.ledger.balances(card)[0].balance_cents == 1300  # debited exactly once
    finally:
        again.stop()
