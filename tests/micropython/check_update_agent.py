# The update agent (firmware/terminal/update/agent.py) around its safety rules, on whatever
# Python runs it: the MicroPython unix port or CPython. Files in a scratch data directory; only
# the runtime around the agent is a stand-in.
# Usage: micropython check_update_agent.py <repo_root> <scratch_dir>
# Prints PASS/FAIL lines and "SUMMARY <passed> <failed>".

import sys

ROOT, DATA = sys.argv[1], sys.argv[2]
sys.path.insert(0, ROOT)
sys.path.insert(0, ROOT + "/firmware")

from terminal import store  # noqa: E402
from terminal.update import agent as agent_mod  # noqa: E402
from terminal.update import boot  # noqa: E402

from protocol import auth, messages, topics  # noqa: E402

DEV = "CT4F7KQ2MZ0"
KEY = bytes(range(32))
RESULTS = [0, 0]


def report(name, ok, detail=""):
    RESULTS[0 if ok else 1] += 1
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else " " + str(detail)))


class Vault:
    command_key = KEY


class App:
    busy = False

    def handle(self, event):
        return []


class Log:
    def __init__(self):
        self.lines = []

    def add(self, text):
        self.lines.append(text)


class Mqtt:
    def __init__(self):
        self.sent = []

    def publish(self, topic, payload, qos=0, retain=False):
        self.sent.append((topic, payload))


class Runtime:
    """What the agent uses of terminal.runtime.Runtime."""

    def __init__(self, now_s):
        self.dev, self.fw, self.vault, self.app = DEV, "1.0.0", Vault(), App()
        self.log, self.mqtt, self.d, self.config = Log(), Mqtt(), {"board": "unix_sim"}, None
        self.online, self.restarted, self.restart_pending = True, False, False
        self._now_s = now_s
        self.keypad_ok = True

    def now_s(self):
        return self._now_s

    def ticks_ms(self):
        return 0

    def _do(self, actions):
        pass

    def on_restart(self):
        self.restarted = True

    def diagnostics(self):
        out = {name: {"ok": True} for name in ("network", "display", "journal")}
        out["keypad"] = {"ok": self.keypad_ok}
        return out


def fresh_root(name):
    root = DATA + "/" + name
    store.ensure_dir(root)
    return root


def offer_payload():
    msg = messages.build("update_offer", {
        "dev": DEV, "ts": 1790000000, "id": "C1", "rel": "1.1.0", "man": "ab" * 32,
        "size": 500, "delay": 0, "exp": 1790000600, "sig": "cd" * 64})
    return auth.seal(msg, KEY)


def check_offer_needs_a_clock():
    # Commands are refused while the clock is unset (their expiry cannot be checked); offers
    # carry an expiry too and must follow the same rule.
    root = fresh_root("noclock")
    rt = Runtime(0)
    agent = agent_mod.UpdateAgent(rt, root, {"code": root + "/none"})
    agent.message(topics.topic(DEV, "update_offer"), offer_payload())
    report("offer.no_clock_refused", store.load_json(root + "/" + agent_mod.JOB) is None
           and not rt.mqtt.sent, (rt.mqtt.sent, rt.log.lines))
    root = fresh_root("clock")
    rt = Runtime(1790000100)
    agent = agent_mod.UpdateAgent(rt, root, {"code": root + "/none"})
    agent.message(topics.topic(DEV, "update_offer"), offer_payload())
    report("offer.clock_set_queued", store.load_json(root + "/" + agent_mod.JOB) is not None,
           rt.log.lines)


def check_trial_given_up_waits_for_the_sale():
    root = fresh_root("trial")
    trial = {"slot": "b", "rel": "1.1.0", "id": "C1", "tries": 1}
    boot.save(root, {"active": "a", "rel": "1.0.0", "trial": trial, "report": None})
    rt = Runtime(1790000100)
    agent = agent_mod.UpdateAgent(rt, root, {"slot": "b", "rel": "1.1.0", "trial": trial,
                                             "code": root + "/none"})
    rt.config = {"cv": 1}  # a fresh config from the server this boot
    rt.keypad_ok = False  # the self-test fails...
    rt.app.busy = True  # ...while a sale is under way
    agent.step(10)
    report("trial.abandon_waits_for_sale", not rt.restarted and rt.restart_pending
           and boot.load(root)["trial"]["reason"].startswith("selftest"),
           (rt.restarted, rt.restart_pending, rt.log.lines))
    rt2 = Runtime(1790000100)
    boot.save(root, {"active": "a", "rel": "1.0.0", "trial": trial, "report": None})
    agent = agent_mod.UpdateAgent(rt2, root, {"slot": "b", "rel": "1.1.0", "trial": trial,
                                              "code": root + "/none"})
    rt2.config, rt2.keypad_ok = {"cv": 1}, False
    agent.step(10)
    report("trial.abandon_idle_restarts", rt2.restarted, rt2.log.lines)


def check_boot_report_with_an_unset_clock():
    # After a rolled-back trial the selector leaves a report; a board boots at 2000-01-01
    # until NTP answers, and the agent is created at boot: it must neither raise nor lose it.
    root = fresh_root("report")
    boot.save(root, {"active": "a", "rel": "1.0.0", "trial": None,
                     "report": {"id": "C1", "rel": "1.1.0", "st": "rolled_back",
                                "reason": "trial boot not confirmed"}})
    rt = Runtime(946684800 + 30)
    rt.online = False
    try:
        agent = agent_mod.UpdateAgent(rt, root, {"slot": "a", "rel": "1.0.0",
                                                 "code": root + "/none"})
        ok = len(agent.outbox) == 1 and boot.load(root)["report"] is None
        detail = agent.outbox
    except Exception as err:
        ok, detail = False, repr(err)
    report("boot.report_without_clock", ok, detail)


def check_boot_report_with_an_exception_text():
    # The reason of a rolled-back trial can be an exception's text, control characters and all
    # (a module of the release raising at import): the boot that sends it must not fail on it.
    root = fresh_root("reason")
    boot.save(root, {"active": "a", "rel": "1.0.0", "trial": None,
                     "report": {"id": "C1", "rel": "1.1.0", "st": "rolled_back",
                                "reason": "selftest import terminal.x bad\nvalue\x7f"}})
    rt = Runtime(1790000100)
    try:
        agent_mod.UpdateAgent(rt, root, {"slot": "a", "rel": "1.0.0", "code": root + "/none"})
        ok = len(rt.mqtt.sent) == 1 and boot.load(root)["report"] is None
        detail = rt.mqtt.sent
    except Exception as err:
        ok, detail = False, repr(err)
    report("boot.report_reason_sanitized", ok, detail)


def check_no_install_over_the_release_on_trial():
    # Booted on trial from slot b (slot a: the release to fall back to), an offer of yet another
    # release gets downloaded: installing it now would wipe the running slot b.
    root = fresh_root("ontrial")
    store.ensure_dir(root + "/slots/b")
    store.save_json(root + "/slots/b/manifest.json", {"files": []})
    trial = {"slot": "b", "rel": "1.1.0", "id": "C1", "tries": 1}
    boot.save(root, {"active": "a", "rel": "1.0.0", "trial": trial, "report": None})
    rt = Runtime(1790000100)
    agent = agent_mod.UpdateAgent(rt, root, {"slot": "b", "rel": "1.1.0", "trial": trial,
                                             "code": root + "/none"})
    job = {"id": "C2", "rel": "1.2.0", "man": "ab" * 32, "size": 10, "sig": "cd" * 64,
           "dg": False, "phase": "install", "fetch": [["ab" * 32, 10]], "idx": 1}
    agent.machine.job = job
    agent.machine.doc = {"files": [{"path": "terminal/x.py", "sha256": "ef" * 32, "size": 1}]}
    agent.step(10)  # the trial is not confirmed yet (no fresh config)
    report("trial.install_waits", store.exists(root + "/slots/b/manifest.json")
           and agent.machine.job is not None and not agent.machine.installing,
           rt.log.lines)


def check_install_io_error_fails_the_job():
    # A flash that refuses the slot (full, or worn) while the loop installs: the job fails and
    # is forgotten, rather than the error ending the loop at every boot (the job would resume).
    root = fresh_root("iofail")
    with open(root + "/slots", "w") as f:  # slots/ cannot be made: mkdir fails as on a full flash
        f.write("x")
    rt = Runtime(1790000100)
    agent = agent_mod.UpdateAgent(rt, root, {"code": root + "/none"})
    job = {"id": "C1", "rel": "1.1.0", "man": "ab" * 32, "size": 10, "sig": "cd" * 64,
           "dg": False, "phase": "install", "fetch": [["ab" * 32, 10]], "idx": 1}
    store.ensure_dir(root + "/upd")
    store.save_json(root + "/" + agent_mod.JOB, job)
    agent.machine.job = job
    agent.machine.doc = {"files": [{"path": "terminal/x.py", "sha256": "ef" * 32, "size": 1}]}
    try:
        agent.step(0)
        ok = store.load_json(root + "/" + agent_mod.JOB) is None and agent.machine.job is None
        detail = rt.log.lines
    except Exception as err:
        ok, detail = False, repr(err)
    report("install.io_error_fails_job", ok, detail)


for fn in (check_offer_needs_a_clock, check_trial_given_up_waits_for_the_sale,
           check_boot_report_with_an_unset_clock, check_boot_report_with_an_exception_text,
           check_no_install_over_the_release_on_trial, check_install_io_error_fails_the_job):
    try:
        fn()
    except Exception as err:
        report(fn.__name__, False, repr(err))
print("SUMMARY %d %d" % (RESULTS[0], RESULTS[1]))
if RESULTS[1]:
    sys.exit(1)
