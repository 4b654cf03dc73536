# The boot selector: runs in main.py before the application is imported, and decides which
# code this boot runs. Small on purpose (it runs at every boot): os, json and sys only.
#
# DATA/slots/boot.json, replaced atomically (write a temporary file, then rename):
#   {"active": "a" | "b" | null,     the confirmed slot; null: the factory code beside main.py
#    "rel": "1.2.0" | null,          its release
#    "trial": {"slot", "rel", "id", "tries", "reason"?} | null,   a release on trial
#    "report": {"id", "rel", "st", "reason"} | null}              to send once connected
# A trial is booted once: "tries" goes to 1 on disk BEFORE its code runs. The next boot finds
# tries == 1 and the trial unconfirmed, whatever happened (crash, hang, power cut, failed
# self-test, deadline): it goes back to the active slot by itself and leaves a "rolled_back"
# report. Only terminal/update/agent.py confirms a trial (active = trial slot).

import json
import os
import sys

SLOTS = "slots"
STATE = "boot.json"


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _prefix(root):
    return (root + "/") if root else ""


def slot_dir(root, slot):
    return _prefix(root) + SLOTS + "/" + slot


def load(root):
    try:
        with open(_prefix(root) + SLOTS + "/" + STATE) as f:
            state = json.loads(f.read())
        if type(state) is dict:
            return state
    except (OSError, ValueError):
        pass
    return {"active": None, "rel": None, "trial": None, "report": None}


def save(root, state):
    base = _prefix(root) + SLOTS
    if not _exists(base):
        os.mkdir(base)
    path = base + "/" + STATE
    with open(path + ".tmp", "w") as f:
        f.write(json.dumps(state))
        f.flush()
    sync = getattr(os, "sync", None)
    if sync is not None:
        sync()
    os.rename(path + ".tmp", path)  # atomic on littlefs and POSIX: old or new, never torn
    if sync is not None:
        sync()


def select(root, use=True):
    """Choose this boot's slot and (use=True) put it first on sys.path. Returns what the
    firmware needs to know: {"slot", "rel", "trial", "pending"} (pending: the update agent has
    work). use=False is for a simulator running many terminals in one process."""
    state = load(root)
    trial = state.get("trial")
    if trial:
        if trial.get("tries", 0) >= 1:
            state["report"] = {"id": trial.get("id"), "rel": trial.get("rel"),
                               "st": "rolled_back",
                               "reason": trial.get("reason") or "trial boot not confirmed"}
            state["trial"] = None
            save(root, state)
            trial = None
        else:
            trial["tries"] = 1
            save(root, state)
    slot = trial["slot"] if trial else state.get("active")
    rel = trial["rel"] if trial else state.get("rel")
    if slot and not _exists(slot_dir(root, slot) + "/manifest.json"):
        slot, rel = None, None  # a slot that is not there: the factory code, never nothing
    if slot and use:
        _use(slot_dir(root, slot))
    pending = bool(trial or state.get("report")
                   or _exists(_prefix(root) + "upd/job.json"))
    return {"slot": slot, "rel": rel, "trial": trial, "pending": pending}


def _use(path):
    if path not in sys.path:
        sys.path.insert(0, path)
    # This module's own package came from the factory code: forget it, so that `terminal`
    # and `protocol` are imported again, from the slot.
    for name in list(sys.modules):
        if name == "terminal" or name.startswith("terminal.") or name == "protocol" \
                or name.startswith("protocol."):
            del sys.modules[name]
