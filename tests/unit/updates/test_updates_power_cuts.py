"""Power cut at every file operation of an install, of the trial boot and of the confirmation:
whatever the moment, the boot selector then chooses a slot whose every file matches its
signed manifest (or the factory code), and the install, taken up again, ends on the new
release. The agent runs on a real directory; only the runtime around it is a stand-in."""

import json
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from terminal import store
from terminal.update import agent as agent_mod
from terminal.update import boot

from fleet_server.service_layer import updates_releases as rel

DEV = "CT4F7KQ2MZ0"


class PowerCut(Exception):
    pass


class Runtime:
    """What the agent uses of terminal.runtime.Runtime."""

    def __init__(self):
        class Vault:
            command_key = bytes(32)

        class App:
            busy = False

            def handle(self, event):
                return []

        class Log:
            def __init__(self):
                self.lines = []

            def add(self, text):
                self.lines.append(text)

        class Mqtt:
            def publish(self, *args):
                pass

        self.dev, self.fw, self.vault, self.app = DEV, "1.0.0", Vault(), App()
        self.log, self.mqtt, self.d, self.config = Log(), Mqtt(), {"board": "unix_sim"}, None
        self.online, self.restarted = False, False

    def now_s(self):
        return 1790000000

    def ticks_ms(self):
        return 0

    def ticks_diff(self, a, b):
        return a - b

    def _do(self, actions):
        pass

    def on_restart(self):
        self.restarted = True

    def diagnostics(self):
        return {name: {"ok": True} for name in ("network", "display", "keypad", "journal")}


def write_release(slot: Path, files: dict, key, version: str) -> bytes:
    entries = [{"path": p, "size": len(d), "sha256": rel.sha256_hex(d)} for p, d in files.items()]
    manifest = rel.build_manifest(version, ["unix_sim"], entries)
    for path, data in files.items():
        (slot / path).parent.mkdir(parents=True, exist_ok=True)
        (slot / path).write_bytes(data)
    (slot / "manifest.sig").write_text(rel.sign_manifest(key, manifest))
    (slot / "manifest.json").write_bytes(manifest)
    return manifest


def intact(root: Path, slot: str | None) -> bool:
    """The slot's every file is the one its manifest names (None: the factory code)."""
    if slot is None:
        return True
    base = root / "slots" / slot
    doc = json.loads((base / "manifest.json").read_bytes())
    return all(rel.sha256_hex((base / f["path"]).read_bytes()) == f["sha256"]
               for f in doc["files"])


@pytest.fixture
def initial(tmp_path):
    """Slot a runs 1.0.0; 1.1.0 is downloaded and verified, waiting to be installed."""
    key = ec.generate_private_key(ec.SECP256R1())
    root = tmp_path / "initial"
    old = {"assets/app.bin": b"old app", "assets/same.bin": b"unchanged", "main.py": b"m"}
    new = dict(old, **{"assets/app.bin": b"new app", "assets/extra.bin": b"extra"})
    write_release(root / "slots" / "a", old, key, "1.0.0")
    boot.save(str(root), {"active": "a", "rel": "1.0.0", "trial": None, "report": None})
    staging = tmp_path / "release"
    staging.mkdir()
    manifest = write_release(staging, new, key, "1.1.0")
    sig = (staging / "manifest.sig").read_text()
    stage = root / "upd" / "stage"
    stage.mkdir(parents=True)
    man_sha = rel.sha256_hex(manifest)
    (stage / man_sha).write_bytes(manifest)
    fetch = [[man_sha, len(manifest)]]
    for path in ("assets/app.bin", "assets/extra.bin"):  # the changed files only
        (stage / rel.sha256_hex(new[path])).write_bytes(new[path])
        fetch.append([rel.sha256_hex(new[path]), len(new[path])])
    store.save_json(str(root / "upd" / "job.json"), {
        "id": "C1", "rel": "1.1.0", "man": man_sha, "size": len(manifest), "sig": sig,
        "dg": False, "phase": "install", "fetch": fetch, "idx": len(fetch)})
    store.save_json(str(root / "release_keys.json"),
                    [rel.public_key_bytes(key.public_key()).hex()])
    return root


def run_agent(root: Path, monkeypatch, cut_after: int | None):
    """Boot (selector), start the agent, let it install; cut the power after `cut_after`
    file operations. Returns (runtime, finished)."""
    count = [0]

    def counted(fn):
        def wrapper(*args, **kwargs):
            if cut_after is not None and count[0] >= cut_after:
                raise PowerCut()
            count[0] += 1
            return fn(*args, **kwargs)
        return wrapper

    with monkeypatch.context() as m:
        for module, name in ((store, "write_atomic"), (store, "remove"), (boot, "save"),
                             (agent_mod, "_copy_checked"), (agent_mod, "rmtree")):
            m.setattr(module, name, counted(getattr(module, name)))
        try:
            info = boot.select(str(root), use=False)
            rt = Runtime()
            rt.fw = info["rel"] or "0.1.0"
            agent = agent_mod.UpdateAgent(rt, str(root), dict(info, code=str(root / "none")))
            rt.online = True
            rt.config = {"cv": 1}  # a fresh config from the server this boot
            for now in range(0, 2000, 100):
                agent.step(now)
                if rt.restarted:
                    break
            return rt, True
        except PowerCut:
            return None, False


def test_power_cut_at_every_step_always_boots_a_complete_release(initial, tmp_path,
                                                                 monkeypatch):
    cuts = 0
    for cut_after in range(0, 200):
        root = tmp_path / f"cut{cut_after}"
        shutil.copytree(initial, root)
        rt, finished = run_agent(root, monkeypatch, cut_after)
        # Whatever happened, every following boot runs a complete release...
        for _ in range(4):
            state = boot.load(str(root))
            chosen = (state.get("trial") or {}).get("slot") or state.get("active")
            assert intact(root, chosen), (cut_after, state)
            rt, finished = run_agent(root, monkeypatch, None)  # power back, no more cuts
            if boot.load(str(root))["active"] == "b":
                break
        # ...and the update ends installed and confirmed (or rolled back after a cut during
        # the trial, on the intact old slot).
        state = boot.load(str(root))
        assert state["active"] in ("a", "b") and intact(root, state["active"]), state
        if state["active"] == "a":
            assert state["report"] is None or state["report"]["st"] == "rolled_back"
        else:
            assert state["rel"] == "1.1.0"
        cuts += 1
        probe_root = tmp_path / f"probe{cut_after}"
        shutil.copytree(initial, probe_root)
        if run_agent(probe_root, monkeypatch, cut_after)[1]:
            break  # this many operations and no cut: every step has been cut once
    assert cuts > 10, cuts  # the install has that many steps, each one cut once
    print("power cuts exercised:", cuts)
