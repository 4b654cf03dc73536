"""The `provision` and `fleet broker-config` commands on a real SQLite database: a batch
registers terminals and writes their files, labels and manifest; flash writes them into a
directory or onto the unix-port board through mpremote; bad input is refused clearly."""

import json
import os
import stat
from pathlib import Path

import pytest
from PIL import Image
from unix_board import UnixBoard

from fleet_server.adapters.broker_security import verify_password
from fleet_server.entrypoints import cli as fleet_cli
from protocol import tokens
from provisioning import cli


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLEET_DB_URL", f"sqlite:///{tmp_path}/fleet.sqlite3")
    monkeypatch.setenv("FLEET_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def batch(workdir, capsys):
    code, out, err = run(capsys, "batch", "--model", "esp32-gm65", "--count", "3",
                         "--out", "b1")
    assert code == 0, err
    return workdir / "b1", out, err


def test_a_batch_registers_terminals_with_files_labels_and_manifest(batch, workdir):
    folder, out, err = batch
    manifest = json.loads((folder / "manifest.json").read_text())
    ids = [d["device_id"] for d in manifest["devices"]]
    assert len(ids) == 3 and all(tokens.is_device_id(i) for i in ids)
    assert "3 terminals registered" in out and "3/3" in err  # progress on stderr
    assert mode(folder) == 0o700 and mode(folder / "manifest.json") == 0o600
    for entry in manifest["devices"]:
        device = folder / entry["device_id"]
        assert {p.name for p in device.iterdir()} == {"device.json", "key.der", "cert.der",
                                                     "ca.der"}
        assert mode(device / "device.json") == mode(device / "key.der") == 0o600
        assert tokens.parse_claim_code(entry["claim_code"]) == entry["claim_code"]
        stored = json.loads((device / "device.json").read_text())
        assert stored["initial_key_id"] == entry["initial_key_id"].lower()
    assert Image.open(folder / "labels-1.png").size[0] > 1000
    assert (folder / "labels.pdf").read_bytes()[:5] == b"%PDF-"
    # registered with the fleet, provisioned (not yet allocated)
    fleet = cli._fleet(type("A", (), {"db": None})())
    try:
        with fleet.uow() as uow:
            for device_id in ids:
                assert uow.devices.get(device_id).partner_id is None
    finally:
        fleet.close()
    secrets = [json.loads((folder / i / "device.json").read_text())["initial_key"] for i in ids]
    assert not any(s in out + err for s in secrets)  # keys never printed


def test_a_batch_never_mixes_with_an_earlier_one(batch, capsys):
    code, _, err = run(capsys, "batch", "--model", "esp32-gm65", "--count", "1", "--out", "b1")
    assert code == 1 and "b1 is not empty" in err


def test_flash_into_a_directory_and_onto_the_unix_board(batch, workdir, capsys,
                                                        micropython_bin):
    folder, _, _ = batch
    device_id = sorted(p.name for p in folder.iterdir() if p.name.startswith("CT"))[0]
    site = workdir / "site.json"
    site.write_text(json.dumps({"wifi": {"ssid": "Librairie", "password": "wifi-pass"},
                                "broker": {"host": "127.0.0.1", "port": 8883}}))
    common = ["flash", device_id, "--from", "b1", "--site", str(site), "--no-firmware"]
    code, out, err = run(capsys, *common, "--dir", "flash-dir")
    assert code == 0, err
    assert "5 files written" in out and "verified by SHA-256" in out
    config = json.loads((workdir / "flash-dir" / "config.json").read_text())
    assert config["ssid"] == "Librairie" and config["broker"]["tls"]["cert"] == "cert.der"
    board = UnixBoard(micropython_bin, workdir / "board")
    try:
        code, out, err = run(capsys, *common, "--port", board.port, "--root", str(board.root),
                             "--no-soft-reset")
        assert code == 0, err
        assert "5 files written" in out
        files = sorted(p.name for p in board.root.iterdir())
        assert files == sorted(p.name for p in (workdir / "flash-dir").iterdir())
        for name in files:
            assert (board.root / name).read_bytes() == (workdir / "flash-dir" / name).read_bytes()
        code, out, _ = run(capsys, *common, "--port", board.port, "--root", str(board.root),
                           "--no-soft-reset")
        assert code == 0 and "0 files written, 5 already identical" in out
    finally:
        board.close()


@pytest.mark.parametrize("argv, message", [
    (["batch", "--model", "esp32-gm65", "--count", "0"], "count must be between 1"),
    (["batch", "--model", "esp32-gm65", "--count", "10001"], "count must be between 1"),
    (["batch", "--model", "ESP32 GM65!", "--count", "2"], "model 'ESP32 GM65!'"),
    (["flash", "CTAAAAAAAA0", "--dir", "x"], "no provisioning files for CTAAAAAAAA0"),
    (["flash", "CTAAAAAAAA0"], "give either --port PORT"),
    (["pki", "verify", "missing.der"], "No such file"),
    (["pki", "revoke", "CTAAAAAAAA0"], "data/pki: run `provision pki init"),
])
def test_bad_input_is_refused_with_a_clear_message(workdir, capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 1 and message in err, err


def test_keys_go_to_the_data_folder_by_default_and_never_into_a_source_tree(workdir, capsys,
                                                                           monkeypatch):
    code, out, err = run(capsys, "batch", "--model", "esp32-gm65", "--count", "1")
    assert code == 0, err
    [folder] = (workdir / "data" / "batches").iterdir()
    assert (workdir / "data" / "pki").is_dir() and (folder / "manifest.json").exists()
    repo = workdir / "shop-repo"
    (repo / ".git").mkdir(parents=True)
    monkeypatch.chdir(repo)
    for argv in (["batch", "--model", "esp32-gm65", "--count", "1", "--out", "b"],
                 ["pki", "init", "--pki", "pki"]):
        code, _, err = run(capsys, *argv)
        assert code == 1 and f"is inside the source tree {repo}" in err, err
        assert "FLEET_DATA_DIR" in err and len(err.strip().splitlines()) == 1
    assert fleet_cli.main(["broker-config"]) == 0  # the defaults: the data folder
    assert fleet_cli.main(["broker-config", "--out", "broker"]) == 1
    assert "inside the source tree" in capsys.readouterr().err
    assert sorted(p.name for p in repo.iterdir()) == [".git"]  # nothing written in the tree
    assert (workdir / "data" / "broker" / "mosquitto.conf").exists()


def test_pki_commands_refuse_bad_certificates_and_csrs(workdir, capsys):
    assert run(capsys, "pki", "init")[0] == 0
    (workdir / "junk.der").write_bytes(b"\x30\x82\x00\x10not a certificate")
    code, _, err = run(capsys, "pki", "verify", "junk.der")
    assert code == 1 and "malformed certificate" in err
    (workdir / "bad.csr").write_bytes(b"-----BEGIN CERTIFICATE REQUEST-----\nAA==\n"
                                      b"-----END CERTIFICATE REQUEST-----\n")
    code, _, err = run(capsys, "pki", "sign-csr", "CTAAAAAAAA0", "--csr", "bad.csr")
    assert code == 1 and "malformed certificate request" in err
    code, _, err = run(capsys, "pki", "revoke", "CTAAAAAAAA0")
    assert code == 1 and "no certificate was issued to CTAAAAAAAA0" in err


def test_fleet_broker_config_writes_the_broker_files(workdir, capsys, monkeypatch):
    monkeypatch.setenv("FLEET_MQTT_PASSWORD", "a-long-server-password")
    assert fleet_cli.main(["broker-config", "--pki", "pki", "--out", "broker",
                           "--name", "broker.example.org"]) == 0
    out = capsys.readouterr().out
    assert "a-long-server-password" not in out
    conf = (workdir / "broker" / "mosquitto.conf").read_text()
    for line in ("require_certificate true", "use_identity_as_username true",
                 "set_tcp_nodelay true", "allow_anonymous false", "listener 8883 127.0.0.1",
                 "listener 1883 127.0.0.1", f"crlfile {workdir / 'pki' / 'crl.pem'}"):
        assert line in conf
    user, _, hashed = (workdir / "broker" / "passwd").read_text().strip().partition(":")
    assert user == "fleet-server" and verify_password("a-long-server-password", hashed)
    assert mode(workdir / "broker" / "passwd") == 0o600
    assert "pattern write t/%u/status" in (workdir / "broker" / "acl").read_text()
    assert os.path.exists(workdir / "pki" / "server" / "key.pem")
