"""Firmware update figures (not a test). `--json` prints one JSON object.

    .venv/bin/python bench/updates.py [--json] [--terminals 1000] [--quick]

1. Delta: the release compiled with mpy-cross, then again with one module changed (a comment
   and a constant in terminal/screens.py): bytes a terminal receives for the change (the
   manifest and the changed files, as the update_chunk messages that carry them) beside the
   same for the full file set. delta_bytes / full_bytes are those wire bytes.
2. ECDSA P-256 verify of the release manifest on the MicroPython binary (protocol/
   ecdsa_p256.py) beside a SHA-256 of the same manifest on the same binary.
3. A campaign to N terminals through the real update service on SQLite: offers, every chunk
   request and every report go through the same code as over MQTT (the broker is left out),
   on a virtual clock that moves a second per tick. Prints the virtual minutes the pacing
   takes (beside the pacing's own lower bound) and the server's real CPU time.
"""

import argparse
import base64
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from fleet_server.service_layer import updates_releases as rel  # noqa: E402
from protocol import messages  # noqa: E402
from provisioning.release_build import build_release  # noqa: E402

CHUNK = 2048  # what the terminal asks for (firmware/terminal/update/machine.py)


def wire_bytes(doc: dict, manifest: bytes, held: set) -> int:
    """Bytes of the update_chunk payloads a terminal holding `held` receives."""
    contents = [(rel.sha256_hex(manifest), len(manifest))]
    seen = set()
    for f in doc["files"]:
        if f["sha256"] not in held and f["sha256"] not in seen:
            contents.append((f["sha256"], f["size"]))
        seen.add(f["sha256"])
    total = 0
    for sha, size in contents:
        for off in range(0, max(size, 1), CHUNK):
            n = min(CHUNK, size - off)
            msg = messages.build("update_chunk", {"dev": "CT4F7KQ2MZ0", "id": "C0000000000",
                                                  "f": sha, "off": off,
                                                  "data": base64.b64encode(bytes(n)).decode(),
                                                  "eof": off + n >= size})
            total += len(messages.encode(msg))
    return total


def delta_figures(work: Path) -> dict:
    old = build_release(work / "old", "1.0.0", ["unix_sim"])
    copy = work / "repo"
    for part in ("firmware", "protocol"):
        shutil.copytree(REPO / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    screens = copy / "firmware" / "terminal" / "screens.py"
    screens.write_text(screens.read_text() + "\n# 1.0.1: a one-module change\nREVISION = 101\n")
    new = build_release(work / "new", "1.0.1", ["unix_sim"], repo=copy)
    old_doc, new_doc = json.loads(old), json.loads(new)
    held = {f["sha256"] for f in old_doc["files"]}
    delta, full = wire_bytes(new_doc, new, held), wire_bytes(new_doc, new, set())
    changed = [f["path"] for f in new_doc["files"] if f["sha256"] not in held]
    return {"delta_bytes": delta, "full_bytes": full, "saved_ratio": round(1 - delta / full, 4),
            "changed_files": changed, "files": len(new_doc["files"]),
            "manifest_bytes": len(new), "file_bytes_full": sum(f["size"] for f in
                                                                new_doc["files"])}, new


ECDSA_SCRIPT = """
import sys, time, hashlib, binascii
sys.path.insert(0, sys.argv[1])
from protocol import ecdsa_p256
manifest = open(sys.argv[2], 'rb').read()
sig = binascii.unhexlify(open(sys.argv[3]).read().strip())
key = binascii.unhexlify(sys.argv[4])
rounds = int(sys.argv[5])
assert ecdsa_p256.verify(key, manifest, sig)
t = time.ticks_us()
for _ in range(rounds):
    ecdsa_p256.verify(key, manifest, sig)
v = time.ticks_diff(time.ticks_us(), t) / rounds
t = time.ticks_us()
for _ in range(rounds * 50):
    hashlib.sha256(manifest).digest()
h = time.ticks_diff(time.ticks_us(), t) / (rounds * 50)
print(v, h)
"""


def ecdsa_figures(work: Path, manifest: bytes, rounds: int) -> dict:
    key = ec.generate_private_key(ec.SECP256R1())
    (work / "m.json").write_bytes(manifest)
    (work / "m.sig").write_text(rel.sign_manifest(key, manifest))
    (work / "bench_ecdsa.py").write_text(ECDSA_SCRIPT)
    binary = shutil.which("micropython") or str(Path(sys.executable).parent / "micropython")
    out = subprocess.run([binary, str(work / "bench_ecdsa.py"), str(REPO), str(work / "m.json"),
                          str(work / "m.sig"), rel.public_key_bytes(key.public_key()).hex(),
                          str(rounds)], capture_output=True, text=True, timeout=600, check=True)
    verify_us, sha_us = (float(x) for x in out.stdout.split())
    return {"ecdsa_verify_ms_micropython": round(verify_us / 1000, 3),
            "sha256_manifest_ms_micropython": round(sha_us / 1000, 4),
            "ecdsa_vs_sha256": round(verify_us / sha_us, 1), "manifest_bytes": len(manifest)}


def campaign_figures(work: Path, terminals: int, rules_kwargs: dict) -> dict:
    import os

    key = ec.generate_private_key(ec.SECP256R1())
    os.environ["FLEET_RELEASE_KEYS"] = rel.public_key_bytes(key.public_key()).hex()
    from fleet_server.bootstrap import bootstrap
    from fleet_server.service_layer import registry
    from fleet_server.service_layer.campaigns_ports import Rules, Target
    from fleet_server.settings import Settings
    from protocol import auth, topics

    clock = [datetime(2026, 11, 26, tzinfo=UTC)]
    fleet = bootstrap(Settings(db_url=f"sqlite:///{work}/bench.sqlite3",
                               master_secret="bench-master-secret-0123456789abcdef",
                               settlement_enabled=False), clock=lambda: clock[0])
    service = fleet.updates
    service.directory._online = lambda device_id: True
    files = {f"assets/f{i}.bin": os.urandom(3000) for i in range(3)}
    entries = [{"path": p, "size": len(d), "sha256": rel.sha256_hex(d)} for p, d in files.items()]
    manifest = rel.build_manifest("1.1.0", ["esp32_gm65"], entries)
    service.publish(rel.ReleaseCandidate(manifest, rel.sign_manifest(key, manifest),
                                         {rel.sha256_hex(d): d for d in files.values()}))
    for _ in range(terminals):
        registry.register_device(fleet.uow(), fleet.keys, "esp32-gm65", clock[0])
    rules = Rules(**rules_kwargs)
    service.create("1.1.0", Target(all=True), rules, "BENCH")
    cpu = time.process_time()
    started = clock[0]
    ts = int(started.timestamp())
    while service.show("BENCH")["state"] == "running":
        for _topic, payload, _q, _r in service.tick(clock[0]):
            offer = messages.parse(payload, "update_offer")
            dev = offer["dev"]
            for sha, size in [(offer["man"], offer["size"])] + [
                    (e["sha256"], e["size"]) for e in entries]:
                for off in range(0, size, CHUNK):
                    req = messages.build("update_req", {"dev": dev, "ts": ts, "id": "BENCH",
                                                        "f": sha, "off": off, "n": CHUNK})
                    service.handle(topics.topic(dev, "update_req"), messages.encode(req))
            report = messages.build("update_report", {"dev": dev, "ts": ts, "id": "BENCH",
                                                      "st": "succeeded", "rel": "1.1.0"})
            service.handle(topics.topic(dev, "update_report"),
                           auth.seal(report, fleet.keys.command_key(dev, 1)))
        clock[0] += timedelta(seconds=1)
    cpu = time.process_time() - cpu
    minutes = (clock[0] - started).total_seconds() / 60
    # The pacing's own bound: minute k offers min(max, base * ramp^k), so the last offer
    # cannot go before the start of minute `bound`.
    bound, left = 0, terminals
    while True:
        left -= min(rules.max_per_minute, math.ceil(rules.base_per_minute * rules.ramp ** bound))
        if left <= 0:
            break
        bound += 1
    view = service.show("BENCH")
    fleet.close()
    return {"terminals": terminals, "succeeded": view["succeeded"],
            "pacing": rules_kwargs, "campaign_virtual_minutes": round(minutes, 2),
            "pacing_bound_minutes": bound, "server_cpu_s": round(cpu, 2),
            "server_cpu_ms_per_terminal": round(1000 * cpu / terminals, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--terminals", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and terminals")
    args = parser.parse_args()
    terminals = 100 if args.quick else args.terminals
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        out, manifest = delta_figures(work)
        out.update(ecdsa_figures(work, manifest, 3 if args.quick else 20))
        out["campaign"] = campaign_figures(work, terminals, {
            "base_per_minute": 50, "ramp": 2.0, "max_per_minute": 400, "min_devices": 10})
    if args.json:
        print(json.dumps(out))
    else:
        for name, value in out.items():
            print(f"{name:32} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
