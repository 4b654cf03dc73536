"""Writing a terminal's files: the firmware set, config.json, device.json and its TLS files, onto
a board (mpremote, provisioning/board.py) or into a directory (the simulator, tests, a staging
copy), through one code path: `device_files` decides the bytes, `write_files` puts them on a
target and reads every hash back.

Safe to run again after an interruption: a file is written as NAME.tmp then renamed, and a file
whose hash already matches is not written at all. Nothing here deletes device state (the DUKPT
registers, the journal): flashing again keeps the terminal's counter.
"""

import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TLS_NAMES = {"cert": "cert.der", "key": "key.der", "ca": "ca.der"}
SECRET_FILES = ("device.json", "key.der", "config.json")  # config.json may hold Wi-Fi keys
HEADROOM = 4096  # bytes kept free on the board beyond what the files need


class FlashError(Exception):
    """A refused or failed flash, with the message the operator should read."""


class FlashFullError(FlashError):
    pass


@dataclass
class FlashReport:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)  # path -> sha256 read back

    @property
    def total(self) -> int:
        return len(self.written) + len(self.unchanged)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def device_json(secrets) -> bytes:
    """The exact bytes terminal.keys.KeyVault.provision writes (key injection), produced by that
    function itself in a private temporary folder, so provisioning never drifts from it."""
    firmware = str(REPO / "firmware")
    if firmware not in sys.path:
        sys.path.insert(0, firmware)
    from terminal.keys import DEVICE_FILE, KeyVault

    with tempfile.TemporaryDirectory(prefix="provision-") as tmp:  # created 0700
        KeyVault.provision(tmp, secrets.device_id, secrets.initial_key_id,
                           secrets.initial_key_hex, secrets.command_key_hex)
        return Path(tmp + DEVICE_FILE).read_bytes()


def firmware_files(firmware_dir: Path) -> dict[str, bytes]:
    """The built set (provisioning/firmware_build.py output) as {device path: bytes}."""
    firmware_dir = Path(firmware_dir)
    manifest_path = firmware_dir / "manifest.json"
    if not manifest_path.exists():
        raise FlashError(f"{firmware_dir} holds no firmware build (manifest.json missing): "
                         "python -m provisioning.firmware_build --out DIR")
    manifest = json.loads(manifest_path.read_text())
    out = {}
    for entry in manifest["files"]:
        data = (firmware_dir / entry["path"]).read_bytes()
        if sha256(data) != entry["sha256"]:
            raise FlashError(f"firmware file {entry['path']} does not match its manifest: "
                             "build again")
        out[entry["path"]] = data
    out["manifest.json"] = manifest_path.read_bytes()
    return out


def device_files(secrets, config: dict, tls: dict[str, bytes] | None = None,
                 firmware_dir: Path | None = None) -> dict[str, bytes]:
    """{path on the device: bytes}. tls: {"cert", "key", "ca"} DER bytes, or None for a
    plain-TCP terminal (simulator, dev broker); config: board, broker, ssid/password."""
    files = firmware_files(firmware_dir) if firmware_dir else {}
    config = json.loads(json.dumps(config))  # a copy, and proof it is JSON
    if tls is not None:
        for part in ("cert", "key", "ca"):
            data = tls.get(part)
            if not data or data.lstrip().startswith(b"-----BEGIN"):
                raise FlashError(f"TLS {part} must be DER bytes (MicroPython's TLS reads DER, "
                                 "not PEM)")
            files[TLS_NAMES[part]] = bytes(data)
        config.setdefault("broker", {})["tls"] = dict(TLS_NAMES)
    files["config.json"] = json.dumps(config, sort_keys=True).encode()
    files["device.json"] = device_json(secrets)
    return files


class DirectoryTarget:
    """A folder standing for the flash root; secrets 0600, the folder 0700."""

    def __init__(self, root):
        self.root = Path(root)
        self.name = str(self.root)

    def __enter__(self):
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)
        return self

    def __exit__(self, *exc):
        return False

    def hashes(self, paths: list[str]) -> dict[str, str | None]:
        out = {}
        for path in paths:
            try:
                out[path] = sha256((self.root / path).read_bytes())
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                out[path] = None
        return out

    def free_bytes(self) -> int:
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    def write(self, path: str, data: bytes) -> None:
        from fleet_server.adapters.secure_files import write_private, write_public

        target = self.root / path
        if not target.resolve().is_relative_to(self.root.resolve()):
            raise FlashError(f"{path} would land outside {self.root}")
        writer = write_private if Path(path).name in SECRET_FILES else write_public
        try:
            writer(target, data)
        except OSError as err:
            if err.errno == 28:  # ENOSPC
                raise FlashFullError(f"no space left in {self.root} writing {path}") from None
            raise FlashError(f"cannot write {target}: {err.strerror or err}") from None


def write_files(target, files: dict[str, bytes],
                progress: Callable[[str, int, int], None] | None = None) -> FlashReport:
    """Write what differs, then read every file's hash back and compare."""
    report = FlashReport()
    paths = sorted(files, key=_order)
    before = target.hashes(paths)
    todo = [p for p in paths if before.get(p) != sha256(files[p])]
    report.unchanged = [p for p in paths if p not in todo]
    need = sum(len(files[p]) for p in todo)
    if todo:
        free = target.free_bytes()
        if free is not None and need + HEADROOM > free:
            raise FlashFullError(f"{target.name} has {free} bytes free, the files need {need} "
                                 f"(+{HEADROOM} headroom): erase the flash or use a bigger board")
    for i, path in enumerate(todo, 1):
        target.write(path, files[path])
        report.written.append(path)
        if progress:
            progress(path, i, len(todo))
    after = target.hashes(paths)
    wrong = [p for p in paths if after.get(p) != sha256(files[p])]
    if wrong:
        raise FlashError(f"read-back hash differs for {', '.join(wrong[:5])}"
                         + (" ..." if len(wrong) > 5 else "") + ": run the flash again")
    report.hashes = {p: after[p] for p in paths}
    return report


def _order(path: str):
    # Firmware first, identity last: an interrupted first flash leaves no device.json, so the
    # board does not boot half-provisioned as that device.
    last = {"config.json": 1, "device.json": 2}
    return (last.get(path, 0), path)


def provision_into_directory(root, secrets, config: dict, tls: dict[str, bytes] | None = None,
                             firmware_dir: Path | None = None) -> FlashReport:
    """The simulator's and the tests' way to provision: the same files and the same writing
    code as a board gets, into a directory."""
    with DirectoryTarget(root) as target:
        return write_files(target, device_files(secrets, config, tls, firmware_dir))
