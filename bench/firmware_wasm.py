"""The 32-bit lane of bench/firmware.py: the firmware on MicroPython's webassembly port.

The ESP32 is a 32-bit machine: 4-byte pointers and object headers, 16-byte heap blocks. The
unix binary is 64-bit and doubles all of that. MicroPython 1.29's webassembly port (npm
package @micropython/micropython-webassembly-pyscript, run by Node.js) is wasm32: the same
word size as the ESP32, the same bytecode (mpy 6.3, the .mpy files and ROMFS image of
provisioning/firmware_build.py load as they are), gc.mem_alloc() works and vfs.VfsRom mounts
the image at /rom from wasm memory outside the GC heap, as a board maps it from flash.

What differs from a board, and how the lane deals with it:
- no `socket` module: the MQTT client runs its own code (link, session, packets) over an
  in-memory broker end (bench/wasm_standins.py: CONNACK, SUBACK, PUBACK, PINGRESP);
- no `cryptolib`: AES in pure Python (bench/wasm_standins.py) in its place, loaded before the
  baseline; its per-block garbage is in the sale figure, and its speed in the signing time
  (so that time says nothing of a board's);
- a gc.collect() called from Python only takes effect once control is back in JavaScript
  (the port cannot scan the wasm stack): bench/firmware_wasm.mjs drives the measurement one
  stretch at a time, so idle and live figures are exact, but the firmware's collections inside
  one loop step happen at the step's end: the sale figure is the peak per loop step, an upper
  bound of the peak between collections;
- the heap grows on demand (split heap) instead of failing: there is no smallest heap to find.

A second run builds the esp32_gm65 board's real drivers on bench/board_standins.py (stand-ins
for machine, network and ntptime; framebuf is built into this port) and reports its idle
figures ("idle_heap_board_drivers_bytes", "board_drivers").

The package is installed with npm into a cache directory (FIRMWARE_BENCH_NPM_CACHE, default
~/.cache/terminal-firmware-bench), never into the repository.
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

PACKAGE = "@micropython/micropython-webassembly-pyscript"
VERSION = "1.29.0-6"
RUNNER = Path(__file__).resolve().parent / "firmware_wasm.mjs"
HEAPSIZE = 4 * 1024 * 1024  # initial heap, large enough never to grow during the run
NODE_MAJOR_MIN = 18


class WasmUnavailable(Exception):
    """Node.js, npm or the package is not there: the lane is skipped with this reason."""


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "terminal-firmware-bench"
    return Path(os.environ.get("FIRMWARE_BENCH_NPM_CACHE") or default)


def find_node() -> tuple[str, str]:
    """(node binary, its version); WasmUnavailable if missing or older than NODE_MAJOR_MIN."""
    node = shutil.which("node")
    if not node:
        raise WasmUnavailable("Node.js not found (apt-get install nodejs): no 32-bit lane")
    version = subprocess.run([node, "--version"], capture_output=True, text=True,
                             timeout=30).stdout.strip()
    try:
        major = int(version.lstrip("v").split(".")[0])
    except ValueError:
        major = 0
    if major < NODE_MAJOR_MIN:
        raise WasmUnavailable(f"Node.js {version or '?'} is older than {NODE_MAJOR_MIN}")
    return node, version


def ensure_package(cache: Path | None = None) -> Path:
    """The package's micropython.mjs, installed with npm into the cache on first use."""
    cache = cache or cache_dir()
    package_dir = cache / "node_modules" / PACKAGE
    mjs = package_dir / "micropython.mjs"
    try:
        installed = json.loads((package_dir / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        installed = None
    if installed == VERSION and mjs.exists():
        return mjs
    npm = shutil.which("npm")
    if not npm:
        raise WasmUnavailable(f"npm not found: cannot install {PACKAGE}@{VERSION}")
    cache.mkdir(parents=True, exist_ok=True)
    try:
        out = subprocess.run([npm, "install", "--prefix", str(cache), "--no-save",
                              "--no-package-lock", "--no-audit", "--no-fund",
                              f"{PACKAGE}@{VERSION}"],
                             capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise WasmUnavailable(f"npm install {PACKAGE}@{VERSION} timed out") from None
    if out.returncode != 0 or not mjs.exists():
        tail = (out.stderr or out.stdout).strip()[-300:]
        raise WasmUnavailable(f"npm install {PACKAGE}@{VERSION} failed: {tail}")
    return mjs


def qstr_pools(stdout: str) -> dict:
    """Both lanes: the core prints micropython.qstr_info() under "QSTR <key>" (at the baseline,
    after the imports, at idle, after four sales): the interpreter's pools of interned
    identifiers (an entry per distinct name or short string)."""
    found = re.findall(r"QSTR (\w+)\s+qstr pool: n_pool=(\d+), n_qstr=(\d+), "
                       r"n_str_data_bytes=(\d+), n_total_bytes=(\d+)", stdout)
    return {key: {"pools": int(p), "qstrs": int(q), "str_data_bytes": int(d),
                  "total_bytes": int(t)}
            for key, p, q, d, t in found}


def run(image: Path, core_dir: Path, params: list, heapsize: int = HEAPSIZE) -> dict:
    """Run the compiled bench core (firmware_core.mpy and its companions in core_dir) on the
    port with `image` as its romfs; params: the core's parameter list (mode "wasm" first)."""
    node, node_version = find_node()
    mjs = ensure_package()
    cmd = [node, str(RUNNER), str(mjs), str(image), str(core_dir), str(heapsize),
           json.dumps(params)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise RuntimeError("the webassembly run timed out") from None
    lines = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        raise RuntimeError("the webassembly run failed: "
                           + (out.stderr or out.stdout).strip()[-400:])
    result = json.loads(lines[-1][len("RESULT "):])
    result.update(qstr_pools(out.stdout))
    result["node"] = node_version
    result["package"] = f"{PACKAGE}@{VERSION}"
    return result


def lane(image: Path, core_dir: Path, params: list, target_idle: int,
         target_sale_peak: int) -> dict:
    """The 32-bit figures, or {"available": False, "reason": ...} without Node.js/the package.
    params: the core's parameters for the unix_sim run (its last one, the board, is replaced
    for the board-drivers run)."""
    try:
        r = run(image, core_dir, params)
    except WasmUnavailable as err:
        return {"available": False, "reason": str(err)}
    if not (r["connected"] and r["sale_ok"]):
        raise SystemExit("firmware_core (wasm32) did not connect or the sale was not approved")
    board = run(image, core_dir, params[:-1] + ["esp32_gm65"])
    if not board["connected"]:
        raise SystemExit("firmware_core (wasm32, esp32_gm65 drivers) did not connect")
    # Here the "image" share of the baseline is the stand-ins (the image is outside the heap).
    r["standins_heap_bytes"] = r.pop("romfs_image_heap_bytes")
    r.update({
        "available": True, "word_bits": 32,
        "transport": "in-memory MQTT broker (bench/wasm_standins.py): this port has no sockets",
        "aes": "pure-Python AES stand-in for cryptolib: signing times are not a board's",
        "sale_peak_is": "per loop step (collections inside a step run at its end): an upper "
                        "bound of the peak between the firmware's collections",
        "board_drivers": board_figures(board),
        "idle_heap_board_drivers_bytes": board["idle_heap_bytes"],
        "within_targets": {
            "sale_peak_heap_bytes": r["sale_peak_heap_bytes"] <= target_sale_peak,
            "idle_heap_bytes": r["idle_heap_bytes"] <= target_idle,
            "idle_heap_board_drivers_bytes": board["idle_heap_bytes"] <= target_idle},
    })
    return r


def board_figures(r: dict) -> dict:
    """What the board-drivers run (esp32_gm65's real drivers on bench/board_standins.py)
    reports: idle figures only (those drivers have no twin to scan or type a sale with)."""
    keys = ("board", "faults", "scanner_state", "standins", "connected", "imported_heap_bytes",
            "idle_heap_bytes", "idle_heap_abs_bytes", "baseline_heap_bytes",
            "build_samples", "qstr_at_baseline", "qstr_at_imported", "qstr_at_idle")
    return {k: r[k] for k in keys if k in r}


def kb(n: int) -> str:
    return f"{n / 1024:.1f} KB"


def verdict(ok: bool, target: int) -> str:
    return f"target <= {kb(target)}: {'met' if ok else 'OVER'}"


def qstr_line(r: dict) -> str:
    q, base = r.get("qstr_at_idle"), r.get("qstr_at_baseline")
    if not (q and base):
        return "qstr pools: not reported"
    board = r.get("board_drivers", {}).get("qstr_at_idle")
    return (f"qstrs at idle: {q['qstrs']} in {q['pools']} pools, of which {base['qstrs']} "
            f"before the firmware (interpreter, bench, stand-ins)"
            + (f"; with the esp32_gm65 drivers: {board['qstrs']}" if board else "")
            + " (a seventh pool appears past about 1260)")


def table(w: dict, target_idle: int, target_sale_peak: int) -> str:
    if not w["available"]:
        return "32-bit lane (MicroPython webassembly port): NOT MEASURED: " + w["reason"]
    ok = w["within_targets"]
    rows = [
        ("bench driver baseline, nothing imported", kb(w["baseline_heap_bytes"]),
         f"stand-ins (broker end, AES) left out: {kb(w['standins_heap_bytes'])}"),
        ("firmware modules imported (ROMFS)", "+" + kb(w["imported_heap_bytes"]), ""),
        ("idle: runtime built, MQTT session up", "+" + kb(w["idle_heap_bytes"]),
         verdict(ok["idle_heap_bytes"], target_idle)),
        ("idle with the esp32_gm65 board's drivers",
         "+" + kb(w["idle_heap_board_drivers_bytes"]),
         verdict(ok["idle_heap_board_drivers_bytes"], target_idle)
         + "; real drivers on bench/board_standins.py"),
        ("sale peak over idle, per loop step", "+" + kb(w["sale_peak_heap_bytes"]),
         verdict(ok["sale_peak_heap_bytes"], target_sale_peak)
         + f" (at {w['sale_peak_step']}; an upper bound)"),
        ("live after the sale / after four", "+" + kb(w["after_sale_heap_bytes"]),
         "+" + kb(w["after_4_sales_heap_bytes"])),
    ]
    width = max(len(x[0]) for x in rows)
    lines = [f"Firmware on MicroPython's webassembly port, 32-bit ({w['package']}, "
             f"Node.js {w['node']})",
             f"imported from: {w['from']}; MQTT session: {w['transport']}; "
             f"sale approved: {w['sale_ok']}",
             "sale peak: " + w["sale_peak_is"], "AES: " + w["aes"]]
    lines += [f"{a:<{width}}  {b:>10}  {c}".rstrip() for a, b, c in rows]
    lines.append(qstr_line(w))
    lines.append("built over the imports (live, bytes): " + ", ".join(
        f"{name} {used}" for name, used in w["build_samples"]))
    lines.append("sale, heap over idle before each firmware collection (bytes): " + ", ".join(
        f"{step}/{why} {used}" for step, why, used in w["sale_collections"]))
    return "\n".join(lines)
