# Remote commands (protocol.messages "command" -> "command_res"), without I/O: the clock,
# the log reader and the diagnostics are passed in, effects (restart, new settings) are
# returned for the runtime to carry out.
#
# "rekey" installs a new Initial Key and command key delivered wrapped under the command key
# (protocol.keywrap)
# through context["install_key"] (KeyVault.install_key), which writes it power-loss safe
# before the OK reply is built: an OK means the next request is signed with the new key.
#
# Order of checks: parse, device id, MAC, id dedup, expiry, high-water mark, dispatch. Nothing
# acts before the MAC is verified, and only verified commands enter the dedup cache, so forged
# traffic can neither trigger an effect nor poison the reply a genuine id will get. A repeated
# id gets the very same reply bytes and no second effect (QoS 1 delivers at least once).
#
# Single use across reboots: the dedup cache is in RAM, so a captured restart could be played
# again after the terminal rebooted, within its expiry. The server's "ts" (inside the MAC) is
# the command counter: the handler keeps on flash the highest ts it accepted and the ids
# accepted with that ts, and accepts only a later ts, or that same ts with a new id. The mark
# is written before the command acts; a terminal that cannot write it refuses the command.
# The server seals commands when it sends them, from one clock, so their ts never goes down.

import json

from protocol import auth, messages, topics
from protocol.errors import ProtocolError
from terminal import store

MAX_SAME_TS = 16  # ids kept for the highest ts: commands sent within one second

MAX_SEEN = 32
LOG_DEFAULT = 50
LOG_MAX = 200
CONFIG_BOUNDS = {"hb": (10, 3600), "beep": (0, 3), "screen_s": (5, 600)}
_REF_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_."
_NO_REPLY = (None, None, None)


def _valid_id(value):
    if type(value) is not str or not 1 <= len(value) <= 32:
        return False
    for ch in value:
        if ch not in _REF_CHARS:
            return False
    return True


def _est_len(text):
    # Bytes this string takes in canonical JSON, erring high (escapes, UTF-8, quotes, comma).
    n = len(text.encode()) + 3
    for ch in text:
        if ch == '"' or ch == "\\":
            n += 1
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            n += 6
    return n


class CommandHandler:
    def __init__(self, device_id, command_key, now_s, seen=None, mark=None):
        self.device_id = device_id
        self.key = command_key
        self.now_s = now_s
        self.seen = seen  # optional dict-like store id -> reply bytes (e.g. kept on flash)
        self.mark = mark  # file of the high-water mark {"ts", "ids"}; None: RAM only (tests)
        self._ids = []  # oldest first, at most MAX_SEEN
        self._replies = {}
        self.topic = topics.topic(device_id, "command_res")

    def handle(self, payload, context):
        """-> (reply_topic, reply_payload, effect); (None, None, None) when nothing can be
        answered. Never raises."""
        try:
            return self._handle(payload, context or {})
        except Exception:  # last resort: a command must never take the runtime down
            return _NO_REPLY

    def _now(self):
        try:
            return int(self.now_s())
        except Exception:
            return 0

    def _reply(self, cmd_id, ok, code=None, res=None):
        now = self._now()
        fields = {"dev": self.device_id, "id": cmd_id, "ok": ok,
                  "ts": min(max(now, messages.TS_MIN), messages.TS_MAX)}
        if code is not None:
            fields["code"] = code
        if res is not None:
            fields["res"] = res
        return auth.seal(messages.build("command_res", fields), self.key)

    def _handle(self, payload, context):
        try:
            msg = messages.parse(payload, "command")
        except ProtocolError:
            return self._answer_malformed(payload)
        if msg["dev"] != self.device_id:
            return _NO_REPLY  # not ours (the broker ACL should make this impossible)
        try:
            auth.verify(msg, self.key)
        except ProtocolError:
            return self.topic, self._reply(msg["id"], False, "bad_mac"), None
        cmd_id = msg["id"]
        cached = self._cached(cmd_id)
        if cached is not None:
            return self.topic, cached, None
        now = self._now()
        if now < messages.TS_MIN:
            # Clock not set: expiry cannot be checked, and after a reboot the dedup memory is
            # gone, so an old captured command could be replayed. Refuse until the clock is set.
            reply, effect = self._reply(cmd_id, False, "ts_out_of_window"), None
        elif msg["exp"] < now:
            reply, effect = self._reply(cmd_id, False, "expired"), None
        else:
            code = self._use(msg["ts"], cmd_id)
            if code:
                reply, effect = self._reply(cmd_id, False, code), None
            else:
                reply, effect = self._dispatch(msg, context, now)
        self._remember(cmd_id, reply)
        return self.topic, reply, effect

    def _use(self, ts, cmd_id):
        """Raise the high-water mark to (ts, cmd_id) on flash; an error code if it cannot."""
        if self.mark is None:
            return None
        high = store.load_json(self.mark)
        if type(high) is not dict:  # none yet (a corrupt file counts as none)
            high = {}
        top, ids = high.get("ts", 0), high.get("ids") or []
        if ts < top or (ts == top and cmd_id in ids):
            return "replay"
        ids = ids[-(MAX_SAME_TS - 1):] + [cmd_id] if ts == top else [cmd_id]
        try:
            store.save_json(self.mark, {"ts": ts, "ids": ids})
        except Exception:  # not on flash: a reboot could let it be played again
            return "internal_error"
        return None

    def _answer_malformed(self, payload):
        # Answer only when the id and device can be read; the reply is MACed but not cached
        # (the command itself was not authenticated).
        try:
            raw = json.loads(bytes(payload).decode())
            cmd_id = raw.get("id")
            if raw.get("dev") != self.device_id or not _valid_id(cmd_id):
                return _NO_REPLY
            return self.topic, self._reply(cmd_id, False, "malformed"), None
        except Exception:
            return _NO_REPLY

    def _cached(self, cmd_id):
        reply = self._replies.get(cmd_id)
        if reply is None and self.seen is not None:
            try:
                reply = self.seen.get(cmd_id)
            except Exception:
                reply = None
        return reply

    def _remember(self, cmd_id, reply):
        if cmd_id not in self._replies:
            self._ids.append(cmd_id)
        self._replies[cmd_id] = reply
        while len(self._ids) > MAX_SEEN:
            del self._replies[self._ids.pop(0)]
        if self.seen is not None:
            try:
                self.seen[cmd_id] = reply
            except Exception:
                pass  # the in-memory cache still covers this boot

    def _dispatch(self, msg, context, now):
        name = msg["name"]
        args = msg.get("args") or {}
        cmd_id = msg["id"]
        try:
            if name == "ping":
                return self._reply(cmd_id, True, res={"pong": now}), None
            if name == "restart":
                return self._reply(cmd_id, True, res={"scheduled": True}), ("restart",)
            if name == "set_config":
                return self._set_config(cmd_id, args)
            if name == "get_logs":
                return self._get_logs(cmd_id, args, context), None
            if name == "rekey":
                return self._rekey(cmd_id, args, context, msg["ts"])
            if name == "diagnostics":
                res = context["diagnostics"]()
                if type(res) is not dict:
                    return self._reply(cmd_id, False, "internal_error"), None
                return self._reply(cmd_id, True, res=res), None
        except ProtocolError:  # a result that does not fit the schema or the size limit
            return self._reply(cmd_id, False, "internal_error"), None
        except Exception:  # a failing context callable
            return self._reply(cmd_id, False, "internal_error"), None
        return self._reply(cmd_id, False, "malformed"), None  # future names

    def _rekey(self, cmd_id, args, context, issued_ts):
        from protocol import keywrap  # imported on the rare re-key only: heap at idle

        try:
            kid, initial_key, key = keywrap.unwrap(self.key, self.device_id, args)
        except ProtocolError as err:
            code = "bad_mac" if err.code == "bad_mac" else "malformed"
            return self._reply(cmd_id, False, code), None
        install = context.get("install_key")
        if install is None:  # a runtime without a key vault
            return self._reply(cmd_id, False, "internal_error"), None
        try:
            installed = install(kid, initial_key, issued_ts, key)
        except ProtocolError as err:  # "replay": older than the key in use
            return self._reply(cmd_id, False, err.code), None
        except Exception:  # flash full or failing: the old key is still in place
            return self._reply(cmd_id, False, "internal_error"), None
        initial_key = None
        # The command key came with the Initial Key and is on flash with it: this reply is
        # the first thing MACed with it, which tells the server the re-key is installed.
        self.key = key
        return (self._reply(cmd_id, True, res={"kid": kid, "installed": bool(installed)}),
                ("rekey", kid))

    def _set_config(self, cmd_id, args):
        if not args:
            return self._reply(cmd_id, False, "malformed"), None
        values = {}
        for key in args:
            bounds = CONFIG_BOUNDS.get(key)
            value = args[key]
            if bounds is None or type(value) is not int:
                return self._reply(cmd_id, False, "malformed"), None
            if not bounds[0] <= value <= bounds[1]:
                return self._reply(cmd_id, False, "out_of_range"), None
            values[key] = value
        return self._reply(cmd_id, True, res={"applied": values}), ("set_config", values)

    def _get_logs(self, cmd_id, args, context):
        n = args.get("lines", LOG_DEFAULT)
        if type(n) is not int:
            return self._reply(cmd_id, False, "malformed")
        n = min(max(n, 1), LOG_MAX)
        lines = [str(line) for line in context["logs"](n)][-n:]
        # Keep the newest lines that fit the 8192-byte command_res, with a margin for the
        # envelope; the loop below is the exact check.
        budget = messages.max_size("command_res") - 400
        keep = 0
        for line in reversed(lines):
            budget -= _est_len(line)
            if budget < 0:
                break
            keep += 1
        truncated = keep < len(lines)
        lines = lines[len(lines) - keep:]
        while True:
            try:
                return self._reply(cmd_id, True, res={"lines": lines, "truncated": truncated})
            except ProtocolError as err:
                if err.code != "too_large" or not lines:
                    raise
                lines = lines[1:]
                truncated = True
