"""The update agent (firmware/terminal/update/agent.py) around its safety rules: an offer needs
a set clock; a failed trial never restarts the terminal in the middle of a sale; boot reports
survive an unset clock and odd texts; no install over the release on trial; a flash error fails
the job. Files in a scratch directory; only the runtime around the agent is a stand-in.
Portable: pytest runs it on CPython, runner.py on the MicroPython binary."""

from portable import scratch
from terminal import store
from terminal.update import agent as agent_mod
from terminal.update import boot

from protocol import auth, messages, topics

DEV = "CT4F7KQ2MZ0"
KEY = bytes(range(32))


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

    def ticks_diff(self, a, b):
        return a - b

    def _do(self, actions):
        pass

    def on_restart(self):
        self.restarted = True

    def diagnostics(self):
        out = {name: {"ok": True} for name in ("network", "display", "journal")}
        out["keypad"] = {"ok": self.keypad_ok}
        return out


def offer_payload():
    msg = messages.build("update_offer", {
        "dev": DEV, "ts": 1790000000, "id": "C1", "rel": "1.1.0", "man": "ab" * 32,
        "size": 500, "delay": 0, "exp": 1790000600, "sig": "cd" * 64})
    return auth.seal(msg, KEY)


def test_an_offer_is_refused_while_the_clock_is_unset():
    # Commands are refused while the clock is unset (their expiry cannot be checked); offers
    # carry an expiry too and must follow the same rule.
    root = scratch("noclock")
    rt = Runtime(0)
    agent = agent_mod.UpdateAgent(rt, root, {"code": root + "/none"})
    agent.message(topics.topic(DEV, "update_offer"), offer_payload())
    assert store.load_json(root + "/" + agent_mod.JOB) is None and not rt.mqtt.sent, (
        rt.mqtt.sent, rt.log.lines)


def test_an_offer_is_queued_once_the_clock_is_set():
    root = scratch("clock")
    rt = Runtime(1790000100)
    agent = agent_mod.UpdateAgent(rt, root, {"code": root + "/none"})
    agent.message(topics.topic(DEV, "update_offer"), offer_payload())
    assert store.load_json(root + "/" + agent_mod.JOB) is not None, rt.log.lines


def trial_agent(rt, root, trial):
    boot.save(root, {"active": "a", "rel": "1.0.0", "trial": trial, "report": None})
    return agent_mod.UpdateAgent(rt, root, {"slot": "b", "rel": "1.1.0", "trial": trial,
                                            "code": root + "/none"})


def test_a_trial_given_up_during_a_sale_waits_for_the_sale_to_end():
    root = scratch("trial")
    trial = {"slot": "b", "rel": "1.1.0", "id": "C1", "tries": 1}
    rt = Runtime(1790000100)
    agent = trial_agent(rt, root, trial)
    rt.config = {"cv": 1}  # a fresh config from the server this boot
    rt.keypad_ok = False  # the self-test fails...
    rt.app.busy = True  # ...while a sale is under way
    agent.step(10)
    assert not rt.restarted and rt.restart_pending, (rt.restarted, rt.log.lines)
    assert boot.load(root)["trial"]["reason"].startswith("selftest")


def test_a_trial_given_up_while_idle_restarts_at_once():
    root = scratch("trial-idle")
    rt = Runtime(1790000100)
    agent = trial_agent(rt, root, {"slot": "b", "rel": "1.1.0", "id": "C1", "tries": 1})
    rt.config, rt.keypad_ok = {"cv": 1}, False
    agent.step(10)
    assert rt.restarted, rt.log.lines


def test_a_boot_report_is_kept_while_the_clock_is_unset():
    # After a rolled-back trial the selector leaves a report; a board boots at 2000-01-01
    # until NTP answers, and the agent is created at boot: it must neither raise nor lose it.
    root = scratch("report")
    boot.save(root, {"active": "a", "rel": "1.0.0", "trial": None,
                     "report": {"id": "C1", "rel": "1.1.0", "st": "rolled_back",
                                "reason": "trial boot not confirmed"}})
    rt = Runtime(946684800 + 30)
    rt.online = False
    agent = agent_mod.UpdateAgent(rt, root, {"slot": "a", "rel": "1.0.0",
                                             "code": root + "/none"})
    assert len(agent.outbox) == 1 and boot.load(root)["report"] is None, agent.outbox


def test_a_boot_report_carrying_an_exception_text_is_sent():
    # The reason of a rolled-back trial can be an exception's text, control characters and all
    # (a module of the release raising at import): the boot that sends it must not fail on it.
    root = scratch("reason")
    boot.save(root, {"active": "a", "rel": "1.0.0", "trial": None,
                     "report": {"id": "C1", "rel": "1.1.0", "st": "rolled_back",
                                "reason": "selftest import terminal.x bad\nvalue\x7f"}})
    rt = Runtime(1790000100)
    agent_mod.UpdateAgent(rt, root, {"slot": "a", "rel": "1.0.0", "code": root + "/none"})
    assert len(rt.mqtt.sent) == 1 and boot.load(root)["report"] is None, rt.mqtt.sent


def install_job(release, job_id):
    return {"id": job_id, "rel": release, "man": "ab" * 32, "size": 10, "sig": "cd" * 64,
            "dg": False, "phase": "install", "fetch": [["ab" * 32, 10]], "idx": 1}


def test_no_install_over_the_release_on_trial():
    # Booted on trial from slot b (slot a: the release to fall back to), an offer of yet another
    # release gets downloaded: installing it now would wipe the running slot b.
    root = scratch("ontrial")
    store.ensure_dir(root + "/slots/b")
    store.save_json(root + "/slots/b/manifest.json", {"files": []})
    rt = Runtime(1790000100)
    agent = trial_agent(rt, root, {"slot": "b", "rel": "1.1.0", "id": "C1", "tries": 1})
    agent.machine.job = install_job("1.2.0", "C2")
    agent.machine.doc = {"files": [{"path": "terminal/x.py", "sha256": "ef" * 32, "size": 1}]}
    agent.step(10)  # the trial is not confirmed yet (no fresh config)
    assert store.exists(root + "/slots/b/manifest.json"), rt.log.lines
    assert agent.machine.job is not None and not agent.machine.installing, rt.log.lines


def test_a_flash_error_while_installing_fails_the_job():
    # A flash that refuses the slot (full, or worn) while the loop installs: the job fails and
    # is forgotten, rather than the error ending the loop at every boot (the job would resume).
    root = scratch("iofail")
    with open(root + "/slots", "w") as f:  # slots/ cannot be made: mkdir fails as on a full flash
        f.write("x")
    rt = Runtime(1790000100)
    agent = agent_mod.UpdateAgent(rt, root, {"code": root + "/none"})
    job = install_job("1.1.0", "C1")
    store.ensure_dir(root + "/upd")
    store.save_json(root + "/" + agent_mod.JOB, job)
    agent.machine.job = job
    agent.machine.doc = {"files": [{"path": "terminal/x.py", "sha256": "ef" * 32, "size": 1}]}
    agent.step(0)
    assert store.load_json(root + "/" + agent_mod.JOB) is None, rt.log.lines
    assert agent.machine.job is None, rt.log.lines
