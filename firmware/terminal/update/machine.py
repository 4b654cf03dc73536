# The update logic as pure state machines: events in, actions out. No file, clock or network
# here: terminal/update/agent.py carries out the actions and feeds back their results. Runs on
# MicroPython 1.29 and CPython.
#
# UpdateMachine, one job at a time (an offer of a release):
#   offer -> queued (random start delay) -> downloading (the manifest, then each file the
#   terminal lacks, in chunks, one request in flight, re-asked on timeout or reconnection) ->
#   verifying (every file's SHA-256, the manifest's signature, model, protocol, version) ->
#   installing (only when no sale is under way) -> rebooting. The job is persisted ("save") at
#   every phase and file boundary; the bytes of the file being fetched are on flash, so after
#   a reboot the download goes on from the staged file's size ("resume").
# TrialWatch, after booting a new release on trial: confirm once online with a fresh server
# config and a passing self-test, or give up at the deadline (the next boot rolls back).
#
# Events:  ("offer", msg, now_s, now_ms, jitter_ms)   ("resume", job, staged_bytes, now_ms)
#          ("tick", now_ms, online, busy)             ("chunk", msg)
#          ("hashed", sha, actual_sha)                ("manifest", data, signature_ok,
#                                                                   rollback_ok)
#          ("installed", ok, reason)
# Actions: ("report", id, rel, state, reason, pct)    ("request", id, sha, offset, count)
#          ("write", sha, offset, data)               ("hash", sha)
#          ("drop", sha)                              ("load_manifest", sha, sig)
#          ("save", job)                              ("discard",)
#          ("install", job, manifest_doc)             ("reboot",)       ("log", text)

import binascii

from terminal.update import manifest as mf

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

CHUNK = const(2048)  # bytes per request: a 2.8 KB payload, gentle on the board's heap
REQUEST_TIMEOUT_MS = const(5000)
FILE_RETRIES = const(1)  # a file whose hash is wrong is fetched once more, then the job fails
MAX_UNANSWERED = const(60)  # requests in a row without an answer while online: give up (5 min)

QUEUED = "queued"
MANIFEST = "manifest"
FILES = "files"
INSTALL = "install"


def _minus(a, b):
    return a - b  # elapsed time on a clock that never wraps (the tests')


class UpdateMachine:
    """now_ms values are ticks: elapsed times go through ticks_diff (the runtime's), since a
    board's ticks wrap."""

    def __init__(self, dev, board, version, running_manifest_sha, local_by_sha,
                 protocol_versions=(1,), chunk=CHUNK, ticks_diff=_minus):
        self.dev, self.board, self.version = dev, board, version
        self.diff = ticks_diff
        self.running_sha = running_manifest_sha
        self.local = local_by_sha  # {sha256: path} of the running release
        self.protocols = protocol_versions
        self.chunk = chunk
        self.job = None
        self.doc = None  # the verified manifest of the job
        self.off = 0  # bytes of the current file already staged
        self.asked_ms = None  # when the request in flight was sent; None: none in flight
        self.start_ms = 0
        self.online = False
        self.installing = False
        self.last_pct = -1
        self.bad = {}
        self.unanswered = 0

    # ---- helpers ---------------------------------------------------------------------------
    def _report(self, state, reason=None, pct=None, job=None):
        job = job or self.job
        return ("report", job["id"], job["rel"], state, reason, pct)

    def _end(self, state, reason):
        out = [self._report(state, reason), ("discard",)]
        self.job, self.doc, self.asked_ms, self.installing = None, None, None, False
        return out

    def _current(self):
        fetch = self.job["fetch"]
        idx = self.job["idx"]
        return fetch[idx] if idx < len(fetch) else None

    def _ask(self, now_ms):
        sha, size = self._current()
        self.asked_ms = now_ms
        count = min(self.chunk, size - self.off) if size > self.off else 1
        return [("request", self.job["id"], sha, self.off, count)]

    def _pct(self):
        fetch = self.job["fetch"]
        total = 0
        done = 0
        for i in range(len(fetch)):
            total += fetch[i][1]
            if i < self.job["idx"]:
                done += fetch[i][1]
        done += self.off
        return 100 if total == 0 else min(100, done * 100 // total)

    # ---- events ----------------------------------------------------------------------------
    def handle(self, event):
        kind = event[0]
        try:
            if kind == "offer":
                return self._offer(event[1], event[2], event[3], event[4])
            if kind == "resume":
                return self._resume(event[1], event[2], event[3])
            if self.job is None:
                return []
            if kind == "tick":
                return self._tick(event[1], event[2], event[3])
            if kind == "chunk":
                return self._chunk(event[1])
            if kind == "hashed":
                return self._hashed(event[1], event[2])
            if kind == "manifest":
                return self._manifest(event[1], event[2], event[3])
            if kind == "installed":
                if event[1]:
                    self.installing = False
                    return [self._report("rebooting"), ("reboot",)]
                return self._end("failed", event[2] or "install")
        except Exception as err:  # never let a bad input stop the terminal: fail the job
            if self.job is not None:
                return self._end("failed", ("error " + str(err))[:64])
            return [("log", "update error " + str(err))]
        return []

    def _offer(self, msg, now_s, now_ms, jitter_ms):
        job = {"id": msg["id"], "rel": msg["rel"], "man": msg["man"], "size": msg["size"],
               "sig": msg.get("sig"), "dg": msg.get("dg"), "phase": QUEUED,
               "fetch": [[msg["man"], msg["size"]]], "idx": 0}
        if msg["exp"] < now_s:
            return [self._report("rejected", "expired", job=job)]
        if not job["sig"]:
            return [self._report("rejected", "signature", job=job)]
        if msg["man"] == self.running_sha:
            return [self._report("succeeded", "already running", job=job)]
        if msg["size"] > mf.MAX_MANIFEST:
            return [self._report("rejected", "manifest", job=job)]
        if self.job is not None:
            if self.job["man"] == msg["man"] and self.job["sig"] == job["sig"]:
                # The same release offered again (a retry, or another campaign): carry on.
                self.job["id"] = msg["id"]
                phase = self.job["phase"]
                state = QUEUED if phase == QUEUED else ("installing" if phase == INSTALL
                                                        else "downloading")
                out = [("save", self.job), self._report(state, None, None)]
                if phase in (MANIFEST, FILES) and self.online:
                    out += self._ask(now_ms)
                return out
            if self.installing:
                return [self._report("rejected", "busy", job=job)]
            out = [self._report("failed", "superseded"), ("discard",)]
        else:
            out = []
        self.job, self.doc, self.off, self.asked_ms, self.bad = job, None, 0, None, {}
        self.installing, self.last_pct = False, -1
        self.start_ms = now_ms + jitter_ms
        return out + [("save", job), self._report(QUEUED)]

    def _resume(self, job, staged, now_ms):
        self.job, self.doc, self.bad, self.asked_ms = job, None, {}, None
        self.installing, self.last_pct, self.start_ms = False, -1, now_ms
        self.off = staged
        if job["phase"] == QUEUED:
            return []
        if job["idx"] > 0:
            # Never trust a decision from before the reboot: check the manifest again.
            return [("load_manifest", job["man"], job["sig"])]
        return []

    def _tick(self, now_ms, online, busy):
        came_back = online and not self.online
        self.online = online
        phase = self.job["phase"]
        if phase == QUEUED:
            if online and self.diff(now_ms, self.start_ms) >= 0:
                self.job["phase"] = MANIFEST
                self.off = 0
                return [("save", self.job), self._report("downloading", None, 0)] + \
                    self._ask(now_ms)
            return []
        if phase in (MANIFEST, FILES):
            if self.doc is None and self.job["idx"] > 0:
                return []  # waiting for the manifest check after a resume
            if online and (came_back or self.asked_ms is None
                           or self.diff(now_ms, self.asked_ms) >= REQUEST_TIMEOUT_MS):
                if self.asked_ms is not None and not came_back:
                    self.unanswered += 1
                    if self.unanswered >= MAX_UNANSWERED:  # the campaign is gone (cancelled)
                        return self._end("failed", "no answer from the server")
                return self._ask(now_ms)
            return []
        if phase == INSTALL and not busy and not self.installing and self.doc is not None:
            self.installing = True
            return [self._report("installing"), ("install", self.job, self.doc)]
        return []

    def _chunk(self, msg):
        current = self._current()
        if current is None or msg["id"] != self.job["id"] or msg["f"] != current[0]:
            return []  # stale: another job or a file already done
        if msg["off"] != self.off or self.asked_ms is None:
            return []  # a duplicate or a late answer to an earlier request
        try:
            data = binascii.a2b_base64(msg["data"]) if msg["data"] else b""
        except Exception:  # ValueError on CPython, binascii.Error elsewhere: not ours
            return [("log", "update: chunk is not base64")]
        sha, size = current
        if len(data) > self.chunk or self.off + len(data) > size or (not data and not msg["eof"]):
            return self._bad_file(sha, "size")
        out = [("write", sha, self.off, data)]
        self.unanswered = 0
        self.off += len(data)
        self.asked_ms = None
        if msg["eof"] or self.off >= size:
            if self.off != size:
                return out + self._bad_file(sha, "size")
            return out + [("hash", sha)]
        pct = self._pct()
        if pct // 20 != self.last_pct // 20 and self.job["phase"] == FILES:
            self.last_pct = pct
            out.append(self._report("downloading", None, pct))
        return out + [("request", self.job["id"], sha, self.off, min(self.chunk, size - self.off))]

    def _bad_file(self, sha, why):
        count = self.bad.get(sha, 0) + 1
        self.bad[sha] = count
        self.off, self.asked_ms = 0, None
        if count > FILE_RETRIES:
            return [("drop", sha)] + self._end("failed", "hash " + why + " " + sha[:12])
        return [("drop", sha), ("log", "update: %s %s, fetched again" % (sha[:12], why))]

    def _hashed(self, sha, actual):
        current = self._current()
        if current is None or current[0] != sha:
            return []
        if actual != sha:
            return self._bad_file(sha, "mismatch")
        if self.job["idx"] == 0:
            return [("load_manifest", sha, self.job["sig"])]
        return self._next_file()

    def _next_file(self):
        self.job["idx"] += 1
        self.off, self.asked_ms = 0, None
        if self.job["idx"] >= len(self.job["fetch"]):
            self.job["phase"] = INSTALL
            return [("save", self.job), self._report("verifying", None, 100)]
        return [("save", self.job)]

    def _manifest(self, data, signature_ok, rollback_ok):
        # rollback_ok: the offer's "dg" is a release key's signature of a rollback statement
        # naming this release (agent.check_release); a plain flag from the server is not enough.
        if not signature_ok:
            return self._end("rejected", "signature")
        try:
            doc = mf.parse(data)
            if doc["version"] != self.job["rel"]:
                raise mf.ManifestError("manifest", "version differs from the offer")
            mf.check_target(doc, self.board, self.protocols, self.version, rollback_ok)
        except mf.ManifestError as err:
            state = "rejected" if err.code in ("model", "downgrade", "protocol") else "failed"
            return self._end(state, err.code)
        self.doc = doc
        if self.job["idx"] > 0:  # resumed: the manifest was checked again, carry on
            return []
        self.job["fetch"] = [[self.job["man"], self.job["size"]]] + \
            [[sha, size] for sha, size in mf.to_fetch(doc, self.local)]
        self.job["phase"] = FILES
        return self._next_file()


class TrialWatch:
    """After a trial boot: confirm the new release, or give it up at the deadline."""

    def __init__(self, trial, now_ms, deadline_ms, ticks_diff=_minus):
        self.trial = trial  # {"slot", "rel", "id", ...} from the boot selector
        self.diff = ticks_diff
        self.deadline = now_ms + deadline_ms
        self.started = now_ms
        self.done = False
        self.testing = False

    def handle(self, event):
        if self.done:
            return []
        kind = event[0]
        if kind == "tick":
            now_ms, ready = event[1], event[2]
            if self.diff(now_ms, self.deadline) >= 0:
                self.done = True
                return [("abandon", "selftest deadline")]
            if ready and not self.testing:
                self.testing = True
                return [("selftest",)]
            return []
        if kind == "selftest":
            self.done = True
            if event[1]:
                return [("confirm",), ("report", self.trial["id"], self.trial["rel"],
                                       "succeeded", None, 100)]
            return [("abandon", ("selftest " + (event[2] or "failed"))[:64])]
        return []
