"""Where the fleet's secrets live by default: the CA, device batches (private keys, DUKPT
initial keys, command keys) and the broker's key, in a data folder outside any source tree.

Keys written inside a repository's work tree end up committed sooner or later; so the default
is `$FLEET_DATA_DIR`, else `$XDG_DATA_HOME/fleet`, else `~/.local/share/fleet`, and a folder
given by hand inside a Git work tree is refused with a message that says where to put it."""

import os
from pathlib import Path

ENV = "FLEET_DATA_DIR"


class InsideRepository(ValueError):
    """A folder for private keys inside a source tree."""


def data_dir() -> Path:
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "fleet"


def repository_of(path: Path) -> Path | None:
    """The Git work tree holding `path` (which may not exist yet), if any."""
    for folder in (path.resolve(), *path.resolve().parents):
        if (folder / ".git").exists():
            return folder
    return None


def secrets_folder(given: str | Path | None, name: str) -> Path:
    """`given`, or `name` in the data folder; refused inside a Git work tree."""
    folder = Path(given) if given else data_dir() / name
    repo = repository_of(folder)
    if repo is not None:
        raise InsideRepository(
            f"{folder} is inside the source tree {repo}: private keys there end up committed; "
            f"leave the option out to use {data_dir() / name}, or give a folder outside it "
            f"(${ENV} moves the default)")
    return folder
