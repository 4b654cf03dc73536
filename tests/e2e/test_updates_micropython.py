"""One real update end to end on the MicroPython binary: a release compiled with mpy-cross,
signed, published, offered by a campaign through Mosquitto; the firmware downloads it in
chunks, installs it in a slot, reboots on trial, passes its self-test and confirms. Then a
broken release that fails its self-test: the terminal goes back to the previous slot by itself
and reports rolled_back."""

import json
import shutil
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fleet_stack import Stack
from polling import eventually
from test_firmware_sale import FirmwareProcess, provision

from fleet_server.entrypoints import release_cli
from fleet_server.service_layer import updates_releases as rel
from fleet_server.service_layer.campaigns_ports import Rules, Target
from provisioning.release_build import build_release

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.broker, pytest.mark.micropython]


@pytest.fixture
def signing_key(monkeypatch):
    key = ec.generate_private_key(ec.SECP256R1())
    monkeypatch.setenv("FLEET_RELEASE_KEYS", rel.public_key_bytes(key.public_key()).hex())
    return key


@pytest.fixture
def stack(mosquitto, tmp_path, signing_key):
    stack = Stack(mosquitto.url, f"sqlite:///{tmp_path}/fleet.sqlite3").start()
    stack.setup_program()
    yield stack
    stack.stop()


def publish(stack, key, out: Path, version: str, repo: Path = REPO) -> dict:
    manifest = build_release(out, version, ["unix_sim"], repo=repo)
    (out / "manifest.sig").write_text(rel.sign_manifest(key, manifest))
    return stack.fleet.updates.publish(release_cli.load_candidate(out))


def broken_repo(tmp_path: Path) -> Path:
    """A copy of the firmware whose signature verifier cannot be imported: the terminal boots
    and sells, but the self-test of the release finds the broken module."""
    copy = tmp_path / "broken"
    shutil.copytree(REPO / "firmware", copy / "firmware",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "protocol", copy / "protocol",
                    ignore=shutil.ignore_patterns("__pycache__", "vectors"))
    with open(copy / "protocol" / "ecdsa_p256.py", "a") as f:
        f.write('\nraise ImportError("broken build")\n')
    return copy


def run_until_restart(binary, root: Path, timeout: float,
                      proc: FirmwareProcess | None = None) -> FirmwareProcess:
    """Run the firmware (or keep the running one: never two on one flash and one client id);
    when it restarts itself (exit 3 on the unix port), start it again."""
    proc = proc or FirmwareProcess(binary, root)
    deadline = time.monotonic() + timeout
    while proc.proc.poll() is None:
        assert time.monotonic() < deadline, "\n".join(proc.seen[-30:])
        try:
            proc.seen.append(proc.lines.get(timeout=0.2))
        except Exception:
            pass
    assert proc.proc.returncode == 3, "\n".join(proc.seen[-30:])
    return FirmwareProcess(binary, root)


def device_state(service, cid, dev):
    row = service.campaigns.device(cid, dev)
    return row and row["state"]


def test_update_then_rollback_on_micropython(stack, mosquitto, micropython_bin, tmp_path,
                                             signing_key):
    service = stack.fleet.updates
    shop = stack.partner("Librairie des Slots", categories=("books",))
    root = tmp_path / "flash"
    dev = provision(stack, shop, root, mosquitto)
    config = json.loads((root / "config.json").read_text())
    config["update"] = {"trial_s": 60}
    (root / "config.json").write_text(json.dumps(config))
    (root / "release_keys.json").write_text(json.dumps(
        [rel.public_key_bytes(signing_key.public_key()).hex()]))
    good = publish(stack, signing_key, tmp_path / "r110", "1.1.0")
    broken = publish(stack, signing_key, tmp_path / "r120", "1.2.0", broken_repo(tmp_path))
    fast = Rules(base_per_minute=10, min_devices=1, device_timeout_s=300)

    terminal = FirmwareProcess(micropython_bin, root)
    terminal.wait_screen("Librairie des")
    service.create(good["version"], Target(devices=[dev]), fast, "UP1")
    terminal = run_until_restart(micropython_bin, root, 120, terminal)  # installed, reboot
    try:
        eventually(lambda: device_state(service, "UP1", dev) == "succeeded",
                   timeout=90, what="succeeded")
        boot = json.loads((root / "slots" / "boot.json").read_text())
        assert boot["active"] == "a" and boot["rel"] == "1.1.0" and boot["trial"] is None
        assert (root / "slots" / "a" / "terminal" / "app.mpy").exists()  # ran from .mpy
        terminal.wait_screen("Librairie des")  # and it sells on: online, configured
    finally:
        terminal.stop()

    terminal = FirmwareProcess(micropython_bin, root)
    terminal.wait_screen("Librairie des")
    service.create(broken["version"], Target(devices=[dev]), fast, "UP2")
    terminal = run_until_restart(micropython_bin, root, 120, terminal)  # 1.2.0 in slot b
    terminal.proc.wait(120)  # the trial fails its self-test and restarts
    assert terminal.proc.returncode == 3
    terminal = FirmwareProcess(micropython_bin, root)  # back on slot a by itself
    try:
        eventually(lambda: device_state(service, "UP2", dev) == "rolled_back",
                   timeout=90, what="rolled_back")
        row = service.campaigns.device("UP2", dev)
        assert "selftest" in (row["reason"] or ""), row
        boot = json.loads((root / "slots" / "boot.json").read_text())
        assert boot["active"] == "a" and boot["rel"] == "1.1.0" and boot["trial"] is None
        terminal.wait_screen("Librairie des")
        # 1 of 1 device failed: past the threshold, the campaign aborts.
        eventually(lambda: service.show("UP2")["state"] == "aborted", timeout=10, what="abort")
    finally:
        terminal.stop()
