"""A firmware release's file set and manifest, built on the operator's machine:

    python -m provisioning.release_build --version 1.2.0 --out DIR [--models a,b] [--source]

(`fleet release build` hands over to this.) The firmware is compiled to .mpy with mpy-cross
(provisioning/firmware_build.py) or, with --source, its .py sources are copied (for CPython
terminals in the simulator); DIR/manifest.json lists every file of DIR/files. Signing and
publishing stay with `fleet release sign` and `fleet release publish`.
"""

import argparse
import json
import shutil
import sys
from pathlib import Path

from fleet_server.service_layer import updates_releases as rel
from provisioning import firmware_build

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODELS = ("esp32_gm65", "esp32s3_gm805", "unix_sim")


def build_release(out_dir, version: str, models=DEFAULT_MODELS, source: bool = False,
                  repo=None, march=None) -> bytes:
    """Compile the firmware into out_dir/files or, with source=True, copy the .py sources;
    write out_dir/manifest.json and return its bytes."""
    rel.parse_version(version)
    out, repo = Path(out_dir), Path(repo or REPO)
    files_dir = out / "files"
    if files_dir.exists():
        shutil.rmtree(files_dir)
    files_dir.mkdir(parents=True)
    (out / "manifest.sig").unlink(missing_ok=True)
    if source:
        for src, dest in firmware_build.sources(repo):
            target = files_dir / (dest[:-4] + ".py" if dest.endswith(".mpy") else dest)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
    else:
        firmware_build.build(files_dir, repo, march)
        (files_dir / firmware_build.MANIFEST).unlink(missing_ok=True)  # ours replaces it
    entries = []
    for path in sorted(p for p in files_dir.rglob("*") if p.is_file()):
        data = path.read_bytes()
        entries.append({"path": path.relative_to(files_dir).as_posix(), "size": len(data),
                        "sha256": rel.sha256_hex(data)})
    manifest = rel.build_manifest(version, list(models), entries)
    (out / "manifest.json").write_bytes(manifest)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fleet release build",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--version", required=True, help="release version, e.g. 1.2.0")
    parser.add_argument("--out", required=True, help="release directory")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help="board names")
    parser.add_argument("--source", action="store_true", help=".py files, not .mpy")
    parser.add_argument("--march", help="mpy-cross -march")
    args = parser.parse_args(argv)
    try:
        manifest = build_release(args.out, args.version, args.models.split(","), args.source,
                                 march=args.march)
    except (firmware_build.BuildError, ValueError) as err:  # ReleaseError is a ValueError
        print(f"fleet release build: {err}", file=sys.stderr)
        return 1
    doc = json.loads(manifest)
    print(f"release {doc['version']}: {len(doc['files'])} files, "
          f"{sum(f['size'] for f in doc['files'])} bytes, manifest {rel.sha256_hex(manifest)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
