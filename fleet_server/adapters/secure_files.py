"""Files written whole or not at all (temp file + fsync + rename), with the permissions they
need: secrets 0600 in 0700 folders from the moment they exist (the mode is set when the file is
created, never widened then narrowed)."""

import os
from pathlib import Path


def ensure_private_dir(path: Path) -> None:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)


def _write(path: Path, data: bytes, mode: int, dir_mode: int) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=dir_mode)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # an older .tmp left by an interrupted run may have other bits
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def write_private(path: Path, data: bytes) -> None:
    """A secret (private key, initial key): 0600, its folder 0700."""
    _write(path, data, 0o600, 0o700)


def write_public(path: Path, data: bytes) -> None:
    """A certificate, CRL or label: 0644 (its folder may still be private)."""
    _write(path, data, 0o644, 0o700)
