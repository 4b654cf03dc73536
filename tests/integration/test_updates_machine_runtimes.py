"""The update state machine through whole scenarios (install, delta, rejections, tampering,
resume, timeouts, trial) on the real MicroPython binary and on CPython: the same script, the
same signed releases, the same results."""

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from fleet_server.service_layer import updates_releases as rel
from protocol import rollback

REPO = Path(__file__).resolve().parents[2]
SCRIPT = "tests/micropython/check_ecdsa_update_machine.py"


def _release(version, files, key, models=("unix_sim",), other=None):
    entries = [{"path": p, "size": len(d), "sha256": rel.sha256_hex(d)} for p, d in files.items()]
    manifest = rel.build_manifest(version, list(models), entries)
    statement = rollback.statement(version, rel.sha256_hex(manifest))
    return {"version": version, "manifest": manifest.decode(),
            "sig": rel.sign_manifest(key, manifest),
            "rollback": rel.sign_manifest(key, statement),  # the release key allows it
            "rollback_other": rel.sign_manifest(other or key, statement),
            "files": {rel.sha256_hex(d): base64.b64encode(d).decode() for d in files.values()}}


def write_scenario(path: Path) -> None:
    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    files = {f"terminal/m{i}.py": os.urandom(1500 + 300 * i) for i in range(4)}
    changed = dict(files, **{"terminal/m2.py": os.urandom(1700)})
    v2 = _release("1.1.0", files, key, other=other)
    tampered = dict(v2, manifest=v2["manifest"].replace('"1.1.0"', '"1.1.1"'))
    tampered["version"] = "1.1.1"
    scenario = {
        "key": rel.public_key_bytes(key.public_key()).hex(),
        "releases": {
            "v2": v2,
            "v3": _release("1.2.0", changed, key),
            "wrongkey": _release("1.1.0", files, other),
            "tampered_manifest": tampered,
            "othermodel": _release("1.1.0", files, key, models=("esp32_gm65",)),
        },
    }
    path.write_text(json.dumps(scenario))


def _run(binary, scenario):
    cmd = [binary] + (["-X", "heapsize=4M"] if "micropython" in binary else [])
    proc = subprocess.run(cmd + [str(REPO / SCRIPT), str(REPO), str(scenario)],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    lines = proc.stdout.splitlines()
    return proc, [ln for ln in lines if ln.startswith(("PASS", "FAIL"))]


def test_machine_scenarios_on_cpython(tmp_path):
    scenario = tmp_path / "scenario.json"
    write_scenario(scenario)
    proc, lines = _run(sys.executable, scenario)
    assert proc.returncode == 0 and all(ln.startswith("PASS") for ln in lines), \
        proc.stdout + proc.stderr
    assert len(lines) >= 20


@pytest.mark.micropython
def test_machine_scenarios_on_micropython(tmp_path, micropython_bin):
    scenario = tmp_path / "scenario.json"
    write_scenario(scenario)
    proc, lines = _run(micropython_bin, scenario)
    assert proc.returncode == 0 and all(ln.startswith("PASS") for ln in lines), \
        proc.stdout + proc.stderr
    cpy, cpy_lines = _run(sys.executable, scenario)
    assert lines == cpy_lines  # both runtimes ran and passed the very same checks
