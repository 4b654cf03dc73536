"""`fleet release build` as an operator runs it: the server's command hands over to
provisioning's build (provisioning/release_build.py) with the same options and output."""

import json
import subprocess
import sys
from pathlib import Path

FLEET = str(Path(sys.executable).parent / "fleet")


def test_fleet_release_build_writes_the_release_directory(tmp_path):
    out = tmp_path / "rel"
    done = subprocess.run([FLEET, "release", "build", "--version", "1.2.0", "--out", str(out),
                           "--models", "unix_sim", "--source"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("release 1.2.0: ")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["version"] == "1.2.0" and manifest["models"] == ["unix_sim"]
    assert (out / "files" / "main.py").exists()


def test_a_bad_version_is_one_line_and_a_failure(tmp_path):
    done = subprocess.run([FLEET, "release", "build", "--version", "one", "--out",
                           str(tmp_path / "rel"), "--source"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "is not a version" in done.stderr and "Traceback" not in done.stderr
