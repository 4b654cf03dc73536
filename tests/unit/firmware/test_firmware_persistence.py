"""Flash persistence of the terminal: atomic files, DUKPT state, journal, ring log."""

import binascii
import json
import os

import pytest
from terminal import keys, store
from terminal.journal import Journal
from terminal.ringlog import RingLog

from protocol import auth, dukpt, messages

BDK = bytes(range(16))
IKID = bytes.fromhex("1234567890123456")
COMMAND_KEY = "ab" * 32


def provision(root, ikid=IKID):
    ik = dukpt.derive_initial_key(BDK, ikid)
    keys.provision(str(root), "0123456789A", ikid.hex(), ik.hex(), COMMAND_KEY,
                   extra={"broker": {"host": "h", "port": 8883}})


class PowerCut(Exception):
    pass


def test_atomic_write_keeps_the_old_file_when_power_fails_before_rename(tmp_path, monkeypatch):
    path = str(tmp_path / "f.json")
    store.write_atomic(path, b"old")

    def cut(src, dst):
        raise PowerCut()

    monkeypatch.setattr(os, "rename", cut)
    with pytest.raises(PowerCut):
        store.write_atomic(path, b"new")
    monkeypatch.undo()
    assert store.read(path) == b"old"
    store.write_atomic(path, "new")  # a leftover tmp does not block the next write
    assert store.read(path) == b"new"
    assert not store.exists(path + ".tmp")


def test_a_torn_temp_file_never_reaches_the_target(tmp_path):
    path = str(tmp_path / "f.json")
    store.save_json(path, {"a": 1})
    with open(path + ".tmp", "wb") as f:  # power cut halfway through writing the new one
        f.write(b'{"a": 2, "b"')
    assert store.load_json(path) == {"a": 1}


def test_load_json_returns_default_on_missing_or_corrupt(tmp_path):
    path = str(tmp_path / "x.json")
    assert store.load_json(path, 7) == 7
    store.write_atomic(path, b"\xff{not json")
    assert store.load_json(path, {}) == {}
    store.ensure_dir(str(tmp_path / "a" / "b" / "c"))
    assert (tmp_path / "a" / "b" / "c").is_dir()


def test_first_load_converts_and_removes_the_initial_key(tmp_path):
    provision(tmp_path)
    vault = keys.KeyVault(str(tmp_path))
    device = json.loads((tmp_path / "device.json").read_text())
    assert "initial_key" not in device and device["command_key"] == COMMAND_KEY
    assert (tmp_path / "dukpt.json").exists()
    assert vault.device_id == "0123456789A" and vault.kid == "1234567890123456"
    assert vault.command_key == bytes.fromhex(COMMAND_KEY)
    assert vault.info == {"device_id": "0123456789A", "initial_key_id": "1234567890123456",
                          "broker": {"host": "h", "port": 8883}}
    left = vault.counter_left()
    assert left == 2448023842  # docs/protocol.md section 7, before any transaction


def test_key_vault_persists_before_returning_and_never_repeats_a_counter(tmp_path):
    provision(tmp_path)
    seen = []
    for _ in range(4):  # a reboot after every few transactions
        vault = keys.KeyVault(str(tmp_path))
        for _ in range(3):
            seq, req, res = vault.next_transaction()
            seen.append(seq)
            # The state on flash already points past this counter when the keys come back.
            assert json.loads((tmp_path / "dukpt.json").read_text())["counter"] > seq
            assert req == auth.dukpt_mac_key(BDK, IKID, seq, messages.DUKPT_REQUEST)
            assert res == auth.dukpt_mac_key(BDK, IKID, seq, messages.DUKPT_RESULT)
    assert seen == sorted(set(seen)) and seen[0] == 1 and len(seen) == 12


def test_crash_between_register_save_and_ik_removal_does_not_rewind(tmp_path):
    provision(tmp_path)
    vault = keys.KeyVault(str(tmp_path))
    first = [vault.next_transaction()[0] for _ in range(5)]
    provision(tmp_path)  # device.json holds the IK again, as if its rewrite was lost
    vault = keys.KeyVault(str(tmp_path))
    assert vault.next_transaction()[0] > first[-1]


def test_a_new_initial_key_id_starts_again_at_counter_one(tmp_path):
    provision(tmp_path)
    keys.KeyVault(str(tmp_path)).next_transaction()
    provision(tmp_path, bytes.fromhex("1234567800000002"))
    assert keys.KeyVault(str(tmp_path)).next_transaction()[0] == 1


def test_missing_device_file_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError):
        keys.KeyVault(str(tmp_path))


def test_journal_round_trip_and_single_entry(tmp_path):
    journal = Journal(str(tmp_path))
    assert journal.get() is None and journal.seq == 0
    journal.put(7, "debit", "t/0123456789A/debit/req", b'{"t":"debit_req"}', b"\x01" * 16)
    with pytest.raises(ValueError):
        journal.put(8, "debit", "t", b"x", b"k")
    again = Journal(str(tmp_path)).get()  # after a reboot
    assert again == {"seq": 7, "kind": "debit", "topic": "t/0123456789A/debit/req",
                     "payload": b'{"t":"debit_req"}', "result_key": b"\x01" * 16}
    assert not journal.clear(8) and journal.get()["seq"] == 7
    assert journal.clear(7) and journal.get() is None
    assert Journal(str(tmp_path)).get() is None
    stored = json.loads((tmp_path / "journal.json").read_text())
    assert stored == {}


def test_journal_stores_bytes_as_hex(tmp_path):
    Journal(str(tmp_path)).put(3, "void", "t", b"\x00\xff", b"\xaa")
    stored = json.loads((tmp_path / "journal.json").read_text())
    assert stored["payload"] == "00ff"
    assert stored["result_key"] == binascii.hexlify(b"\xaa").decode()


def test_ringlog_bounds_lines_and_survives_reload(tmp_path):
    log = RingLog(str(tmp_path), max_lines=20, flush_every=4)
    for i in range(57):
        log.add(f"line {i}", ts=1700000000 + i)
    log.add("x" * 500 + "\nnewline")
    log.flush()
    tail = log.tail(5)
    assert len(tail[-1]) == 120 and "\n" not in tail[-1]
    assert tail[0] == "1700000053 line 53"
    assert 10 <= len(log.tail(100)) <= 20  # read back from flash: at least half the ring
    reloaded = RingLog(str(tmp_path), max_lines=20, flush_every=4)
    assert reloaded.tail(3) == log.tail(3)
    assert 10 <= len(reloaded.tail(100)) <= 20
    assert reloaded.dropped == log.dropped and log.dropped >= 30
    for name in ("log0.txt", "log1.txt"):
        assert len((tmp_path / name).read_text().splitlines()) <= 11  # header + half
    assert log.tail(0) == []


def test_ringlog_skips_a_torn_last_line(tmp_path):
    log = RingLog(str(tmp_path), max_lines=10, flush_every=1)
    log.add("complete")
    with open(tmp_path / "log0.txt", "a") as f:
        f.write("torn wri")
    assert RingLog(str(tmp_path), max_lines=10).tail(5) == ["complete"]
