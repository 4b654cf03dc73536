# Terminal persistence and commands on whatever Python runs it, the MicroPython binary first:
#   check_persistence.py <repo> <empty temp dir>
# atomic files, DUKPT state kept across "reboots", journal, ring log, command handling,
# heartbeat. Prints "PASS name" / "FAIL name detail" and "SUMMARY <passed> <failed>".
# Only MicroPython-safe syntax and modules here.

import sys

ROOT = sys.argv[1]
TMP = sys.argv[2]
sys.path.insert(0, ROOT + "/firmware")
sys.path.insert(0, ROOT)

from terminal import keys, store  # noqa: E402
from terminal.commands import CommandHandler  # noqa: E402
from terminal.heartbeat import build_heartbeat  # noqa: E402
from terminal.journal import Journal  # noqa: E402
from terminal.ringlog import RingLog  # noqa: E402

from protocol import auth, dukpt, messages  # noqa: E402

RESULTS = [0, 0]
BDK = bytes(range(16))
IKID = b"\x12\x34\x56\x78\x90\x12\x34\x56"
DEV = "0123456789A"
CKEY = bytes(range(32))
NOW = 1760000000


def report(name, ok, detail=""):
    RESULTS[0 if ok else 1] += 1
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else " " + str(detail)))


def check(name, fn):
    try:
        fn()
        report(name, True)
    except Exception as err:  # every check gets its line
        report(name, False, repr(err))


def expect(cond, detail="assertion"):
    if not cond:
        raise AssertionError(detail)


def hexs(data):
    return "".join(["%02x" % b for b in data])


def atomic():
    path = TMP + "/a.json"
    store.save_json(path, {"v": 1})
    with open(path + ".tmp", "wb") as f:  # power cut while writing the new version
        f.write(b'{"v": 2, "x')
    expect(store.load_json(path) == {"v": 1}, "old content lost")
    store.save_json(path, {"v": 2})
    expect(store.load_json(path) == {"v": 2} and not store.exists(path + ".tmp"))
    store.write_atomic(path, b"\xff garbage")
    expect(store.load_json(path, "d") == "d" and store.read(TMP + "/none") is None)
    store.ensure_dir(TMP + "/d1/d2")
    expect(store.exists(TMP + "/d1/d2"))


def vault():
    root = TMP + "/keys"
    ik = dukpt.derive_initial_key(BDK, IKID)
    keys.provision(root, DEV, hexs(IKID), hexs(ik), hexs(CKEY), {"broker": {"port": 1}})
    seqs = []
    for _ in range(3):
        v = keys.KeyVault(root)
        expect("initial_key" not in store.load_json(root + "/device.json"), "IK kept")
        for _ in range(3):
            seq, req, res = v.next_transaction()
            expect(store.load_json(root + "/dukpt.json")["counter"] > seq, "not persisted")
            expect(req == auth.dukpt_mac_key(BDK, IKID, seq, messages.DUKPT_REQUEST))
            expect(res == auth.dukpt_mac_key(BDK, IKID, seq, messages.DUKPT_RESULT))
            seqs.append(seq)
    expect(seqs == list(range(1, 10)), seqs)
    expect(v.kid == hexs(IKID) and v.command_key == CKEY and v.info["broker"] == {"port": 1})
    expect(v.counter_left() == 2448023842 - 9, v.counter_left())


def journal():
    j = Journal(TMP + "/j")
    j.put(5, "debit", "t/x", b"payload", b"\x01\x02")
    try:
        j.put(6, "debit", "t/x", b"p", b"k")
        expect(False, "second entry accepted")
    except ValueError:
        pass
    e = Journal(TMP + "/j").get()
    expect(e == {"seq": 5, "kind": "debit", "topic": "t/x", "payload": b"payload",
                 "result_key": b"\x01\x02"}, e)
    expect(not j.clear(4) and j.clear(5) and Journal(TMP + "/j").get() is None)


def ringlog():
    log = RingLog(TMP + "/log", max_lines=20, flush_every=4)
    for i in range(57):
        log.add("line %d" % i, 1700000000 + i)
    log.add("y" * 300)
    log.flush()
    again = RingLog(TMP + "/log", max_lines=20)
    expect(again.tail(3) == log.tail(3), again.tail(3))
    # read back from flash: the current segment and the previous one, at least half the ring
    expect(10 <= len(log.tail(99)) <= 20 and len(log.tail(1)[0]) == 120, len(log.tail(99)))
    expect(again.dropped == log.dropped and log.dropped >= 30, log.dropped)


def command(name, cmd_id, key=CKEY, exp=NOW + 60):
    fields = {"dev": DEV, "ts": NOW, "id": cmd_id, "name": name, "exp": exp}
    return auth.seal(messages.build("command", fields), key)


def commands():
    ctx = {"diagnostics": lambda: {"flash": {"ok": True}},
           "logs": lambda n: ["z" * 120] * n}
    h = CommandHandler(DEV, CKEY, lambda: NOW)
    _, reply, effect = h.handle(command("restart", "r1"), ctx)
    expect(effect == ("restart",) and messages.parse(reply, "command_res")["ok"])
    _, again, effect = h.handle(command("restart", "r1"), ctx)
    expect(effect is None and again == reply, "replay acted")
    _, reply, effect = h.handle(command("restart", "r2", key=b"\x00" * 32), ctx)
    expect(effect is None and messages.parse(reply)["code"] == "bad_mac")
    _, reply, effect = h.handle(command("ping", "r3", exp=NOW - 1), ctx)
    expect(messages.parse(reply)["code"] == "expired")
    _, reply, _ = h.handle(command("get_logs", "r4"), ctx)
    msg = messages.parse(reply, "command_res")
    auth.verify(msg, CKEY)
    expect(msg["ok"] and msg["res"]["truncated"] is False and len(msg["res"]["lines"]) == 50)
    for junk in (b"", b"\xff\x00", b"{}", b"[1]", b'{"dev":"0123456789A","id":"q"}', None):
        h.handle(junk, ctx)


def heartbeat():
    topic, payload = build_heartbeat(DEV, NOW, -1, 1 << 40, "1.0", 2, "watchdog", 0, "ok",
                                     rssi=-200, drift=-5)
    msg = messages.parse(payload, "heartbeat")
    expect(topic == "t/" + DEV + "/hb" and msg["heap"] == 1 << 30 and msg["rssi"] == -127)


for _name, _fn in (("store.atomic", atomic), ("keys.vault", vault), ("journal", journal),
                   ("ringlog", ringlog), ("commands", commands), ("heartbeat", heartbeat)):
    check(_name, _fn)
print("SUMMARY %d %d" % (RESULTS[0], RESULTS[1]))
