# The update agent: the I/O edge around terminal/update/machine.py. MQTT (offers, chunk
# requests, reports), files (the staged download, the job, the slots), the release keys, the
# self-test and the reboot. Created by the runtime only when an update is in flight.
#
# Data directory layout:
#   upd/job.json            the job in progress (UpdateMachine.job), replaced atomically
#   upd/stage/<sha256>      downloaded bytes, one file per content (the manifest included)
#   slots/a, slots/b        a release each: its files, manifest.json and manifest.sig
#   slots/boot.json         the boot selector (terminal/update/boot.py)

import binascii
import gc
import hashlib
import json
import os

from protocol import auth, messages, topics
from protocol.errors import ProtocolError
from terminal import store
from terminal.update import boot, machine, selftest

TRIAL_DEADLINE_MS = 120000
JOB = "upd/job.json"
STAGE = "upd/stage"


def _p(root, rel):
    return (root + "/" + rel) if root else rel


def _hash_file(path):
    h = hashlib.sha256()
    buf = bytearray(1024)
    with open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(buf[:n] if n < len(buf) else buf)
    return binascii.hexlify(h.digest()).decode()


def _copy_checked(src, dst, sha):
    """Copy src to dst and return True if the copied bytes have the expected SHA-256."""
    h = hashlib.sha256()
    buf = bytearray(1024)
    with open(src, "rb") as fin:
        with open(dst, "wb") as fout:
            while True:
                n = fin.readinto(buf)
                if not n:
                    break
                chunk = buf[:n] if n < len(buf) else buf
                h.update(chunk)
                fout.write(chunk)
    return binascii.hexlify(h.digest()).decode() == sha


def rmtree(path):
    try:
        entries = os.listdir(path)
    except OSError:
        return
    for name in entries:
        full = path + "/" + name
        try:
            if os.stat(full)[0] & 0x4000:
                rmtree(full)
                continue
        except OSError:
            continue
        store.remove(full)
    try:
        os.rmdir(path)
    except OSError:
        pass


def trusted_keys(root):
    from terminal.update import release_keys

    keys = []
    for text in tuple(release_keys.KEYS) + tuple(store.load_json(_p(root, "release_keys.json"),
                                                                 []) or ()):
        try:
            keys.append(binascii.unhexlify(text))
        except (ValueError, TypeError):
            pass
    return keys


class UpdateAgent:
    def __init__(self, runtime, root, boot_info=None, rand=None):
        self.rt, self.root = runtime, root
        self.info = boot_info or {}
        self.code_dir = self.info.get("code") or "."  # the factory code (main.py's directory)
        self.rand = rand or _random_below
        state = boot.load(root)
        self.running_slot = self.info.get("slot")
        running_doc, running_sha = self._running_manifest()
        self.running_doc = running_doc
        self.machine = machine.UpdateMachine(
            runtime.dev, self._board(), runtime.fw, running_sha,
            _local_files(running_doc), messages.SUPPORTED_VERSIONS,
            ticks_diff=runtime.ticks_diff)
        self.outbox = []  # reports waiting for the link
        self.boot_config = runtime.config  # the one from flash; a new object = a fresh one
        self.trial = None
        if self.info.get("trial"):
            self.trial = machine.TrialWatch(self.info["trial"], runtime.ticks_ms(),
                                            self._trial_deadline(), runtime.ticks_diff)
        if state.get("report"):
            rep = state["report"]
            self._queue_report(rep.get("id") or "boot", rep.get("rel") or "0", rep.get("st"),
                               rep.get("reason"), None)
            state["report"] = None
            boot.save(root, state)
        job = store.load_json(_p(root, JOB), None)
        if job and (job.get("rel") == self.info.get("rel") or job.get("man") == running_sha):
            self._discard()  # installed already (the reboot came before the clean-up)
        elif job:
            self._do(self.machine.handle(("resume", job, self._staged_size(job),
                                          runtime.ticks_ms())))

    # ---- what the terminal runs now ---------------------------------------------------------
    def _board(self):
        return self.rt.d.get("board") or "unknown"

    def _running_manifest(self):
        if self.running_slot:
            path = boot.slot_dir(self.root, self.running_slot) + "/manifest.json"
        else:
            path = self.code_dir + "/manifest.json"
        data = store.read(path)
        if not data:
            return None, None
        try:
            doc = json.loads(data.decode())
        except ValueError:
            return None, None
        sha = binascii.hexlify(hashlib.sha256(data).digest()).decode()
        return doc, sha

    def _running_path(self, rel_path):
        if self.running_slot:
            return boot.slot_dir(self.root, self.running_slot) + "/" + rel_path
        return self.code_dir + "/" + rel_path

    def _trial_deadline(self):
        cfg = store.load_json(_p(self.root, "config.json"), {}) or {}
        return int((cfg.get("update") or {}).get("trial_s", TRIAL_DEADLINE_MS // 1000)) * 1000

    def _staged_size(self, job):
        fetch = job.get("fetch") or []
        idx = job.get("idx", 0)
        if idx >= len(fetch):
            return 0
        try:
            return os.stat(_p(self.root, STAGE) + "/" + fetch[idx][0])[6]
        except OSError:
            return 0

    # ---- runtime hooks ----------------------------------------------------------------------
    def message(self, topic, payload):
        try:
            if topic.endswith("/upd/offer"):
                msg = messages.parse(payload, "update_offer")
                auth.verify(msg, self.rt.vault.command_key)
                if msg["dev"] != self.rt.dev:
                    raise ProtocolError("bad_topic", "offer for another device")
                if self.rt.now_s() < messages.TS_MIN:  # as for commands: no clock, no expiry,
                    # so a captured offer (a downgrade one too) could be played back
                    raise ProtocolError("ts_out_of_window", "clock not set")
                spread = msg["delay"] * 1000
                jitter = self.rand(spread) if (self.rand and spread) else 0
                self._do(self.machine.handle(("offer", msg, self.rt.now_s(),
                                              self.rt.ticks_ms(), jitter)))
            elif topic.endswith("/upd/chunk"):
                msg = messages.parse(payload, "update_chunk")
                if msg["dev"] == self.rt.dev:
                    self._do(self.machine.handle(("chunk", msg)))
        except ProtocolError as err:
            self.rt.log.add("update refused: %s" % err)
        except OSError as err:  # flash full or failing: the job fails, the terminal goes on
            self.rt.log.add("update io error: %s" % err)
            self._do(self.machine.handle(("installed", False, "io " + str(err)[:40])))

    def connected(self):
        outbox, self.outbox = self.outbox, []
        for topic, payload in outbox:
            self.rt.mqtt.publish(topic, payload, 1)

    def step(self, now):
        online = self.rt.online
        # A release on trial runs from the slot an install would overwrite (the other one holds
        # the release to fall back to): installs wait for the trial's end, as for a sale.
        busy = self.rt.app.busy or self.trial is not None
        try:
            self._do(self.machine.handle(("tick", now, online, busy)))
            if self.trial is not None:
                ready = online and self.rt.config is not None \
                    and self.rt.config is not self.boot_config
                self._do(self.trial.handle(("tick", now, ready)))
        except OSError as err:  # as in message(): the job fails, the loop (and a reboot that
            # would resume the job and fail again) goes on
            self.rt.log.add("update io error: %s" % err)
            self._do(self.machine.handle(("installed", False, "io " + str(err)[:40])))

    # ---- actions ------------------------------------------------------------------------------
    def _ts(self):
        # A board boots at 2000-01-01 until NTP answers: an unset clock must not make a report
        # unbuildable (a pending "rolled_back" report would then fail every boot).
        return min(max(self.rt.now_s(), messages.TS_MIN), messages.TS_MAX)

    def _queue_report(self, cid, rel, st, reason, pct):
        fields = {"dev": self.rt.dev, "ts": self._ts(), "id": cid, "st": st, "rel": rel}
        if reason:
            # Exception texts land here (a trial's self-test): a control character would make
            # the report unbuildable, and the boot that sends a pending one would fail each time.
            fields["reason"] = "".join([ch if " " <= ch <= "~" else "?" for ch in reason[:64]])
        if pct is not None:
            fields["pct"] = pct
        msg = messages.build("update_report", fields)
        payload = auth.seal(msg, self.rt.vault.command_key)
        topic = topics.topic(self.rt.dev, "update_report")
        if self.rt.online:
            self.rt.mqtt.publish(topic, payload, 1)
        else:
            self.outbox.append((topic, payload))
        self.rt.log.add("update %s %s %s" % (rel, st, reason or ""))
        shown = {"installing": "installing", "rebooting": "rebooting"}.get(st)
        if st in ("queued", "downloading", "verifying"):
            shown = "queued"  # the counter keeps selling while the download runs
        self.rt._do(self.rt.app.handle(("update", shown)))

    def _do(self, actions):
        for action in actions:
            kind = action[0]
            if kind == "report":
                self._queue_report(action[1], action[2], action[3], action[4], action[5])
            elif kind == "request":
                msg = messages.build("update_req", {"dev": self.rt.dev, "ts": self._ts(),
                                                    "id": action[1], "f": action[2],
                                                    "off": action[3], "n": action[4]})
                self.rt.mqtt.publish(topics.topic(self.rt.dev, "update_req"),
                                     messages.encode(msg), 1)
            elif kind == "write":
                self._write(action[1], action[2], action[3])
            elif kind == "hash":
                path = _p(self.root, STAGE) + "/" + action[1]
                self._do(self.machine.handle(("hashed", action[1], _hash_file(path))))
            elif kind == "drop":
                store.remove(_p(self.root, STAGE) + "/" + action[1])
            elif kind == "load_manifest":
                self._load_manifest(action[1], action[2])
            elif kind == "save":
                store.ensure_dir(_p(self.root, "upd"))
                store.save_json(_p(self.root, JOB), action[1])
            elif kind == "discard":
                self._discard()
            elif kind == "install":
                ok, reason = self._install(action[1], action[2])
                self._do(self.machine.handle(("installed", ok, reason)))
            elif kind == "reboot":
                if self.rt.on_restart:
                    self.rt.on_restart()
            elif kind == "selftest":
                ok, reason = selftest.run(self.rt, self.running_doc)
                self._do(self.trial.handle(("selftest", ok, reason)))
            elif kind == "confirm":
                self._confirm()
            elif kind == "abandon":
                self._abandon(action[1])
            elif kind == "log":
                self.rt.log.add(action[1])

    def _write(self, sha, offset, data):
        stage = _p(self.root, STAGE)
        store.ensure_dir(stage)
        path = stage + "/" + sha
        if offset:
            try:
                size = os.stat(path)[6]
            except OSError:
                size = -1
            if size != offset:  # a torn earlier write: this file starts again
                store.remove(path)
                self._do(self.machine.handle(("hashed", sha, "torn")))
                return
        with open(path, "ab" if offset else "wb") as f:
            f.write(data)

    def _load_manifest(self, sha, sig_hex):
        data = store.read(_p(self.root, STAGE) + "/" + sha)
        job = self.machine.job or {}
        ok, rollback_ok = False, False
        if data is not None:
            gc.collect()
            ok, rollback_ok = machine.mf.check_release(trusted_keys(self.root), data, sig_hex,
                                                       sha, job.get("rel"), job.get("dg"))
        self._do(self.machine.handle(("manifest", data or b"", ok, rollback_ok)))

    def _discard(self):
        rmtree(_p(self.root, STAGE))
        store.remove(_p(self.root, JOB))

    def _install(self, job, doc):
        """Write the release into the inactive slot, then point the selector at it on trial."""
        state = boot.load(self.root)
        target = "b" if state.get("active") == "a" else "a"
        slot = boot.slot_dir(self.root, target)
        rmtree(slot)
        store.ensure_dir(slot)
        stage = _p(self.root, STAGE)
        local = _local_files(self._running_manifest()[0])
        try:
            for entry in doc["files"]:
                sha, dest = entry["sha256"], slot + "/" + entry["path"]
                cut = dest.rfind("/")
                store.ensure_dir(dest[:cut])
                src = stage + "/" + sha
                if not store.exists(src):
                    src = self._running_path(local[sha]) if sha in local else None
                if src is None or not _copy_checked(src, dest, sha):
                    return False, "install hash " + entry["path"][-40:]
            store.write_atomic(slot + "/manifest.sig", job["sig"])
            # manifest.json last: the selector only boots a slot that has one.
            store.write_atomic(slot + "/manifest.json", store.read(stage + "/" + job["man"]))
        except OSError as err:
            return False, "install io " + str(err)[:40]
        state["trial"] = {"slot": target, "rel": job["rel"], "id": job["id"], "tries": 0}
        state["report"] = None
        boot.save(self.root, state)  # the switch: from here the next boot tries the release
        self._discard()
        return True, None

    def _confirm(self):
        state = boot.load(self.root)
        trial = state.get("trial")
        if trial:
            state["active"], state["rel"], state["trial"] = trial["slot"], trial["rel"], None
            boot.save(self.root, state)
        self.trial = None

    def _abandon(self, reason):
        state = boot.load(self.root)
        if state.get("trial"):
            state["trial"]["reason"] = reason
            boot.save(self.root, state)
        self.rt.log.add("update trial given up: " + reason)
        if self.rt.app.busy:  # never in the middle of a sale: the runtime restarts after it
            self.rt.restart_pending = True
        elif self.rt.on_restart:
            self.rt.on_restart()  # the next boot goes back to the previous slot


def _random_below(bound):
    import random

    return random.randint(0, bound)


def _local_files(doc):
    from terminal.update import manifest

    return manifest.current_files(doc)
