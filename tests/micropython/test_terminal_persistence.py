"""Terminal persistence and commands: atomic files, DUKPT state kept across "reboots", journal,
ring log, command handling, heartbeat. Portable: pytest runs it on CPython, runner.py on the
MicroPython binary, each in a scratch directory (MicroPython-safe code only)."""

from portable import hexs, scratch
from terminal import keys, store
from terminal.commands import CommandHandler
from terminal.heartbeat import build_heartbeat
from terminal.journal import Journal
from terminal.ringlog import RingLog

from protocol import auth, dukpt, messages

BDK = bytes(range(16))
IKID = b"\x12\x34\x56\x78\x90\x12\x34\x56"
DEV = "0123456789A"
CKEY = bytes(range(32))
NOW = 1760000000


def test_store_writes_are_atomic():
    tmp = scratch("store")
    path = tmp + "/a.json"
    store.save_json(path, {"v": 1})
    with open(path + ".tmp", "wb") as f:  # power cut while writing the new version
        f.write(b'{"v": 2, "x')
    assert store.load_json(path) == {"v": 1}, "old content lost"
    store.save_json(path, {"v": 2})
    assert store.load_json(path) == {"v": 2} and not store.exists(path + ".tmp")
    store.write_atomic(path, b"\xff garbage")
    assert store.load_json(path, "d") == "d" and store.read(tmp + "/none") is None
    store.ensure_dir(tmp + "/d1/d2")
    assert store.exists(tmp + "/d1/d2")


def test_key_vault_keeps_the_dukpt_counter_across_reboots():
    root = scratch("vault") + "/keys"
    ik = dukpt.derive_initial_key(BDK, IKID)
    keys.provision(root, DEV, hexs(IKID), hexs(ik), hexs(CKEY), {"broker": {"port": 1}})
    seqs = []
    for _ in range(3):
        v = keys.KeyVault(root)
        assert "initial_key" not in store.load_json(root + "/device.json"), "IK kept"
        for _ in range(3):
            seq, req, res = v.next_transaction()
            assert store.load_json(root + "/dukpt.json")["counter"] > seq, "not persisted"
            assert req == auth.dukpt_mac_key(BDK, IKID, seq, messages.DUKPT_REQUEST)
            assert res == auth.dukpt_mac_key(BDK, IKID, seq, messages.DUKPT_RESULT)
            seqs.append(seq)
    assert seqs == list(range(1, 10)), seqs
    assert v.kid == hexs(IKID) and v.command_key == CKEY and v.info["broker"] == {"port": 1}
    assert v.counter_left() == 2448023842 - 9, v.counter_left()


def test_journal_holds_one_entry_until_cleared():
    path = scratch("journal") + "/j"
    j = Journal(path)
    j.put(5, "debit", "t/x", b"payload", b"\x01\x02")
    try:
        j.put(6, "debit", "t/x", b"p", b"k")
        raise AssertionError("second entry accepted")
    except ValueError:
        pass
    e = Journal(path).get()
    assert e == {"seq": 5, "kind": "debit", "topic": "t/x", "payload": b"payload",
                 "result_key": b"\x01\x02"}, e
    assert not j.clear(4) and j.clear(5) and Journal(path).get() is None


def test_ring_log_keeps_the_latest_lines_on_flash():
    path = scratch("ringlog") + "/log"
    log = RingLog(path, max_lines=20, flush_every=4)
    for i in range(57):
        log.add("line %d" % i, 1700000000 + i)
    log.add("y" * 300)
    log.flush()
    again = RingLog(path, max_lines=20)
    assert again.tail(3) == log.tail(3), again.tail(3)
    # read back from flash: the current segment and the previous one, at least half the ring
    assert 10 <= len(log.tail(99)) <= 20 and len(log.tail(1)[0]) == 120, len(log.tail(99))
    assert again.dropped == log.dropped and log.dropped >= 30, log.dropped


def command(name, cmd_id, key=CKEY, exp=NOW + 60):
    fields = {"dev": DEV, "ts": NOW, "id": cmd_id, "name": name, "exp": exp}
    return auth.seal(messages.build("command", fields), key)


def test_commands_act_once_and_refuse_bad_macs_and_expired_ones():
    ctx = {"diagnostics": lambda: {"flash": {"ok": True}},
           "logs": lambda n: ["z" * 120] * n}
    h = CommandHandler(DEV, CKEY, lambda: NOW)
    _, reply, effect = h.handle(command("restart", "r1"), ctx)
    assert effect == ("restart",) and messages.parse(reply, "command_res")["ok"]
    _, again, effect = h.handle(command("restart", "r1"), ctx)
    assert effect is None and again == reply, "replay acted"
    _, reply, effect = h.handle(command("restart", "r2", key=b"\x00" * 32), ctx)
    assert effect is None and messages.parse(reply)["code"] == "bad_mac"
    _, reply, effect = h.handle(command("ping", "r3", exp=NOW - 1), ctx)
    assert messages.parse(reply)["code"] == "expired"
    _, reply, _ = h.handle(command("get_logs", "r4"), ctx)
    msg = messages.parse(reply, "command_res")
    auth.verify(msg, CKEY)
    assert msg["ok"] and msg["res"]["truncated"] is False and len(msg["res"]["lines"]) == 50
    for junk in (b"", b"\xff\x00", b"{}", b"[1]", b'{"dev":"0123456789A","id":"q"}', None):
        h.handle(junk, ctx)


def test_heartbeat_clamps_heap_and_rssi():
    topic, payload = build_heartbeat(DEV, NOW, -1, 1 << 40, "1.0", 2, "watchdog", 0, "ok",
                                     rssi=-200, drift=-5)
    msg = messages.parse(payload, "heartbeat")
    assert topic == "t/" + DEV + "/hb" and msg["heap"] == 1 << 30 and msg["rssi"] == -127
