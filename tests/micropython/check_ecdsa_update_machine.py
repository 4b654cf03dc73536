# The update state machine (firmware/terminal/update/machine.py) through whole scenarios, on
# whatever Python runs it: the MicroPython unix port or CPython.
# Usage: micropython check_ecdsa_update_machine.py <repo_root> <scenario.json>
# scenario.json (written by tests/integration/test_updates_machine_runtimes.py): a release
# key, signed manifests and their files. Prints PASS/FAIL lines and "SUMMARY <passed> <failed>".

import binascii
import hashlib
import json
import sys

ROOT = sys.argv[1]
sys.path.insert(0, ROOT)
sys.path.insert(0, ROOT + "/firmware")

from terminal.update import machine  # noqa: E402
from terminal.update import manifest as mf  # noqa: E402

with open(sys.argv[2]) as f:
    S = json.load(f)
KEY = binascii.unhexlify(S["key"])
RESULTS = [0, 0]
NOW_S = 1790000000


def report(name, ok, detail=""):
    RESULTS[0 if ok else 1] += 1
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else " " + str(detail)))


def sha(data):
    return binascii.hexlify(hashlib.sha256(data).digest()).decode()


class Edge:
    """Carries out the machine's actions in memory, as the agent does on flash and MQTT."""

    def __init__(self, release, tamper=None, serve=True):
        self.release = release  # {"manifest": bytes, "files": {sha: bytes}}
        self.staged, self.reports, self.requests = {}, [], []
        self.saved, self.installed, self.rebooted = None, None, False
        self.tamper, self.serve, self.pending = tamper, serve, []
        self.m = None

    def content(self, f):
        if f == sha(self.release["manifest"]):
            return self.release["manifest"]
        data = self.release["files"][f]
        return self.tamper(f, data) if self.tamper else data

    def run(self, actions):
        queue = list(actions)
        while queue:
            a = queue.pop(0)
            kind = a[0]
            if kind == "report":
                self.reports.append((a[3], a[4]))
            elif kind == "request":
                self.requests.append((a[2], a[3], a[4]))
                if self.serve:
                    data = self.content(a[2])
                    piece = data[a[3]:a[3] + a[4]]
                    self.pending.append({"id": a[1], "f": a[2], "off": a[3],
                                         "data": binascii.b2a_base64(piece).decode().strip(),
                                         "eof": a[3] + len(piece) >= len(data)})
            elif kind == "write":
                buf = self.staged.get(a[1], bytearray())
                self.staged[a[1]] = bytearray(bytes(buf[:a[2]]) + a[3])
            elif kind == "hash":
                queue += self.m.handle(("hashed", a[1], sha(bytes(self.staged[a[1]]))))
            elif kind == "drop":
                self.staged.pop(a[1], None)
            elif kind == "load_manifest":
                data = bytes(self.staged.get(a[1], b""))
                # the agent's own check (manifest.check_release), with the scenario's key
                ok, rollback_ok = mf.check_release([KEY], data, a[2], a[1], self.m.job["rel"],
                                                   self.m.job["dg"])
                queue += self.m.handle(("manifest", data, ok, rollback_ok))
            elif kind == "save":
                self.saved = json.loads(json.dumps(a[1]))
            elif kind == "discard":
                self.staged, self.saved = {}, None
            elif kind == "install":
                self.installed = a[2]
                queue += self.m.handle(("installed", True, None))
            elif kind == "reboot":
                self.rebooted = True

    def pump(self, now, busy=False, limit=5000):
        """Deliver chunks and ticks until nothing moves."""
        for _ in range(limit):
            if self.pending:
                self.run(self.m.handle(("chunk", self.pending.pop(0))))
            else:
                before = len(self.requests), len(self.reports)
                self.run(self.m.handle(("tick", now, True, busy)))
                if (len(self.requests), len(self.reports)) == before and not self.pending:
                    return


def release(name):
    r = S["releases"][name]
    files = {}
    for k in r["files"]:
        files[k] = binascii.a2b_base64(r["files"][k])
    return {"manifest": r["manifest"].encode(), "files": files, "sig": r["sig"],
            "version": r["version"], "rollback": r.get("rollback"),
            "rollback_other": r.get("rollback_other")}


def offer(rel, cid="C1", exp=NOW_S + 600, sig=True, dg=False):
    msg = {"id": cid, "rel": rel["version"], "man": sha(rel["manifest"]),
           "size": len(rel["manifest"]), "delay": 0, "exp": exp}
    if sig:
        msg["sig"] = rel["sig"] if sig is True else sig
    if dg:
        msg["dg"] = dg  # a rollback statement's signature, or whatever the server puts there
    return msg


def new_machine(running=None, version="1.0.0", board="unix_sim", chunk=512):
    local = {}
    if running:
        doc = json.loads(running["manifest"].decode())
        for entry in doc["files"]:
            local[entry["sha256"]] = entry["path"]
    return machine.UpdateMachine("DEV", board, version,
                                 sha(running["manifest"]) if running else None, local, (1,), chunk)


def states(edge):
    return [r[0] for r in edge.reports]


def scenario_full_install():
    rel = release("v2")
    e = Edge(rel)
    e.m = new_machine()
    e.run(e.m.handle(("offer", offer(rel), NOW_S, 0, 0)))
    report("offer.queued", states(e) == ["queued"], states(e))
    e.pump(10, busy=True)
    got = states(e)
    report("download.states", got[:2] == ["queued", "downloading"] and got[-1] == "verifying",
           got)
    report("install.waits_for_sale", e.installed is None and not e.rebooted)
    e.pump(20, busy=False)
    report("install.after_sale", e.installed is not None and e.rebooted
           and states(e)[-2:] == ["installing", "rebooting"], states(e))
    fetched = set(r[0] for r in e.requests)
    report("download.all_files", len(fetched) == len(rel["files"]) + 1, len(fetched))


def scenario_delta():
    old, new = release("v2"), release("v3")
    e = Edge(new)
    e.m = new_machine(running=old, version="1.1.0")
    e.run(e.m.handle(("offer", offer(new), NOW_S, 0, 0)))
    e.pump(10)
    fetched = set(r[0] for r in e.requests) - set([sha(new["manifest"])])
    changed = set(new["files"]) - set(old["files"])
    report("delta.only_changed", fetched == changed and len(changed) == 1, (fetched, changed))
    report("delta.installed", e.rebooted, states(e))


def scenario_rejections():
    rel = release("v2")
    for name, rel_, kwargs, m_kwargs, want in (
            ("signature.wrong_key", release("wrongkey"), {}, {}, ("rejected", "signature")),
            ("signature.missing", rel, {"sig": False}, {}, ("rejected", "signature")),
            ("signature.tampered_manifest", release("tampered_manifest"), {}, {},
             ("rejected", "signature")),
            ("model.other_board", release("othermodel"), {}, {}, ("rejected", "model")),
            ("downgrade.refused", rel, {}, {"version": "9.0.0"}, ("rejected", "downgrade")),
            ("offer.expired", rel, {"exp": NOW_S - 1}, {}, ("rejected", "expired"))):
        e = Edge(rel_)
        e.m = new_machine(**m_kwargs)
        e.run(e.m.handle(("offer", offer(rel_, **kwargs), NOW_S, 0, 0)))
        e.pump(10)
        report("reject." + name, e.reports[-1] == want and not e.rebooted, e.reports)
    # A downgrade needs the release key's rollback statement naming this release; "dg" from
    # the server alone (it holds the command key that MACs the offer) is not enough.
    newer = release("v3")
    for name, dg in (("server_flag", "01" * 64), ("other_key", rel["rollback_other"]),
                     ("other_release", newer["rollback"])):
        e = Edge(rel)
        e.m = new_machine(version="9.0.0")
        e.run(e.m.handle(("offer", offer(rel, dg=dg), NOW_S, 0, 0)))
        e.pump(10)
        report("downgrade.refused_without_statement." + name,
               e.reports[-1] == ("rejected", "downgrade") and not e.rebooted, e.reports)
    e = Edge(rel)
    e.m = new_machine(version="9.0.0")
    e.run(e.m.handle(("offer", offer(rel, dg=rel["rollback"]), NOW_S, 0, 0)))
    e.pump(10)
    report("downgrade.allowed_by_signed_statement", e.rebooted, e.reports)


def scenario_tampered_file():
    rel = release("v2")
    victim = sorted(rel["files"])[0]

    def tamper(f, data):
        # The last byte flipped: a fixed replacement byte left the file intact whenever its
        # random content already ended with it (one run in 256).
        return (data[:-1] + bytes([data[-1] ^ 1])) if f == victim else data

    e = Edge(rel, tamper=tamper)
    e.m = new_machine()
    e.run(e.m.handle(("offer", offer(rel), NOW_S, 0, 0)))
    e.pump(10)
    asked = len([r for r in e.requests if r[0] == victim and r[1] == 0])
    report("tampered.fetched_twice_then_failed", asked == 2 and e.reports[-1][0] == "failed"
           and e.reports[-1][1].startswith("hash") and not e.rebooted, (asked, e.reports))


def scenario_resume_and_timeout():
    rel = release("v2")
    e = Edge(rel)
    e.m = new_machine()
    e.run(e.m.handle(("offer", offer(rel), NOW_S, 0, 0)))
    e.pump(10, limit=12)  # stop in the middle: a reboot
    job = e.saved
    current = job["fetch"][job["idx"]][0]
    staged = len(e.staged.get(current, b""))
    e2 = Edge(rel)
    e2.staged = dict((k, bytearray(v)) for k, v in e.staged.items())
    e2.m = new_machine()
    e2.run(e2.m.handle(("resume", job, staged, 1000)))
    e2.pump(1000)
    first = [r for r in e2.requests if r[0] == current][0]
    report("resume.from_staged_offset", first[1] == staged and staged > 0, (first, staged))
    report("resume.completes", e2.rebooted, states(e2))
    # No answer: the same request again after the timeout, not before.
    e3 = Edge(rel, serve=False)
    e3.m = new_machine()
    e3.run(e3.m.handle(("offer", offer(rel), NOW_S, 0, 0)))
    e3.run(e3.m.handle(("tick", 0, True, False)))
    e3.run(e3.m.handle(("tick", 4000, True, False)))
    n = len(e3.requests)
    e3.run(e3.m.handle(("tick", 5000, True, False)))
    report("timeout.asks_again", n == 1 and len(e3.requests) == 2
           and e3.requests[0] == e3.requests[1], e3.requests)
    e3.run(e3.m.handle(("tick", 5100, False, False)))
    e3.run(e3.m.handle(("tick", 5200, True, False)))
    report("reconnect.asks_again", len(e3.requests) == 3, e3.requests)


def scenario_trial():
    w = machine.TrialWatch({"slot": "b", "rel": "1.1.0", "id": "C1"}, 0, 1000)
    out = w.handle(("tick", 10, False)) + w.handle(("tick", 20, True))
    ok = w.handle(("selftest", True, None))
    report("trial.confirm", out == [("selftest",)] and ok[0] == ("confirm",)
           and ok[1][3] == "succeeded", (out, ok))
    w = machine.TrialWatch({"slot": "b", "rel": "1.1.0", "id": "C1"}, 0, 1000)
    report("trial.selftest_fails", w.handle(("tick", 5, True)) == [("selftest",)]
           and w.handle(("selftest", False, "scanner"))[0][0] == "abandon")
    w = machine.TrialWatch({"slot": "b", "rel": "1.1.0", "id": "C1"}, 0, 1000)
    report("trial.deadline", w.handle(("tick", 1000, False)) == [("abandon",
                                                                  "selftest deadline")])


def scenario_hostile_chunks():
    rel = release("v2")
    e = Edge(rel, serve=False)
    e.m = new_machine()
    e.run(e.m.handle(("offer", offer(rel), NOW_S, 0, 0)))
    e.run(e.m.handle(("tick", 0, True, False)))
    f = e.requests[0][0]
    bad = [{"id": "C1", "f": f, "off": 0, "data": "!!!notbase64", "eof": False},
           {"id": "OTHER", "f": f, "off": 0, "data": "", "eof": True},
           {"id": "C1", "f": f, "off": 99, "data": "AAAA", "eof": False},
           {"id": "C1", "f": "0" * 64, "off": 0, "data": "AAAA", "eof": True}]
    crashed = None
    for chunk in bad:
        try:
            e.run(e.m.handle(("chunk", chunk)))
        except Exception as err:
            crashed = err
    report("hostile.never_raises", crashed is None, crashed)


for fn in (scenario_full_install, scenario_delta, scenario_rejections, scenario_tampered_file,
           scenario_resume_and_timeout, scenario_trial, scenario_hostile_chunks):
    try:
        fn()
    except Exception as err:
        report(fn.__name__, False, repr(err))
print("SUMMARY %d %d" % (RESULTS[0], RESULTS[1]))
if RESULTS[1]:
    sys.exit(1)
