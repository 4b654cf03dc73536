# Power-loss-safe files on flash, for both MicroPython (littlefs on the board, posix on the unix
# port) and CPython. A file is replaced by writing `path.tmp` completely, flushing it, and
# renaming it over the target: rename is atomic on littlefs and POSIX, so a reader sees the old
# or the new content, never a torn one. MicroPython has no os.path: small helpers below.

import json
import os

TMP = ".tmp"


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def remove(path):
    try:
        os.remove(path)
        return True
    except OSError:
        return False


def ensure_dir(path):
    """Create `path` and its parents (no os.makedirs on MicroPython)."""
    if not path or exists(path):
        return
    parent = path.rstrip("/")
    cut = parent.rfind("/")
    if cut > 0:
        ensure_dir(parent[:cut])
    try:
        os.mkdir(path)
    except OSError:
        if not exists(path):  # a race or a real failure: only the latter matters
            raise


def _sync():
    # os.sync exists on CPython/POSIX and on some ports; where it is missing the filesystem
    # commits on close (littlefs does).
    sync = getattr(os, "sync", None)
    if sync is not None:
        try:
            sync()
        except OSError:
            pass


def write_atomic(path, data):
    if isinstance(data, str):
        data = data.encode()
    tmp = path + TMP
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
    _sync()  # the new bytes reach flash before the name points at them
    try:
        os.rename(tmp, path)
    except OSError:
        # FAT (and Windows) refuse to rename over an existing file: the only non-atomic
        # fallback, kept for those filesystems; littlefs and POSIX never get here.
        remove(path)
        os.rename(tmp, path)
    _sync()


def read(path):
    """The file's bytes, or None if it does not exist or cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def save_json(path, obj):
    write_atomic(path, json.dumps(obj))


def load_json(path, default=None):
    """The parsed file, or `default` when it is missing or corrupt (never raises)."""
    data = read(path)
    if data is None:
        return default
    try:
        return json.loads(data.decode())
    except Exception:  # bad UTF-8 or bad JSON: a corrupt file counts as absent
        return default
