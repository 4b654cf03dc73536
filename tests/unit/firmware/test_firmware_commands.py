"""Remote commands on the terminal: MAC, expiry, id dedup, dispatch, hostile input."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from terminal.commands import CommandHandler
from terminal.heartbeat import build_heartbeat

from protocol import auth, messages

DEV = "0123456789A"
KEY = bytes(range(32))
NOW = 1760000000
TOPIC = "t/" + DEV + "/cmd/res"


def command(name, args=None, cmd_id="c1", exp=NOW + 60, key=KEY, dev=DEV):
    fields = {"dev": dev, "ts": NOW, "id": cmd_id, "name": name, "exp": exp}
    if args is not None:
        fields["args"] = args
    return auth.seal(messages.build("command", fields), key)


class Context(dict):
    def __init__(self, lines=None):
        super().__init__()
        self.calls = []
        self.lines = lines if lines is not None else [f"l{i}" for i in range(300)]
        self["diagnostics"] = lambda: {"scanner": {"ok": True}, "flash": {"ok": False, "free": 3}}
        self["logs"] = self._logs

    def _logs(self, n):
        self.calls.append(n)
        return self.lines[-n:]


def run(payload, ctx=None, handler=None, now=NOW):
    handler = handler or CommandHandler(DEV, KEY, lambda: now)
    topic, reply, effect = handler.handle(payload, ctx if ctx is not None else Context())
    msg = None
    if reply is not None:
        assert topic == TOPIC
        msg = messages.parse(reply, "command_res")
        auth.verify(msg, KEY)
        assert msg["dev"] == DEV
    return msg, effect


def test_ping_answers_pong():
    msg, effect = run(command("ping"))
    assert msg["ok"] and msg["res"] == {"pong": NOW} and msg["id"] == "c1" and effect is None


def test_diagnostics_returns_the_checks():
    msg, _ = run(command("diagnostics"))
    assert msg["ok"] and msg["res"]["flash"] == {"ok": False, "free": 3}


def test_get_logs_default_and_bounds():
    ctx = Context()
    msg, _ = run(command("get_logs"), ctx)
    assert ctx.calls == [50] and msg["res"]["lines"] == [f"l{i}" for i in range(250, 300)]
    assert msg["res"]["truncated"] is False
    ctx = Context()
    run(command("get_logs", {"lines": 5000}), ctx)
    assert ctx.calls == [200]


def test_get_logs_drops_oldest_lines_to_fit_the_size_limit():
    ctx = Context([f"{i:03d} " + "é" * 115 for i in range(200)])
    msg, _ = run(command("get_logs", {"lines": 200}), ctx)
    lines = msg["res"]["lines"]
    assert msg["res"]["truncated"] is True and 10 < len(lines) < 200
    assert lines[-1].startswith("199 ") and lines == ctx.lines[-len(lines):]


def test_restart_is_an_effect_and_scheduled():
    msg, effect = run(command("restart"))
    assert msg["ok"] and msg["res"] == {"scheduled": True} and effect == ("restart",)


def test_set_config_validates_keys_and_bounds():
    msg, effect = run(command("set_config", {"hb": 30, "beep": 0, "screen_s": 600}))
    assert msg["ok"] and effect == ("set_config", {"hb": 30, "beep": 0, "screen_s": 600})
    for args, code in (({"hb": 5}, "out_of_range"), ({"beep": 4}, "out_of_range"),
                       ({"wifi": 1}, "malformed"), ({"hb": "30"}, "malformed"),
                       ({"hb": True}, "malformed"), ({}, "malformed")):
        msg, effect = run(command("set_config", args))
        assert not msg["ok"] and msg["code"] == code and effect is None, args


def test_rekey_is_not_handled_here():
    msg, effect = run(command("rekey"))
    assert not msg["ok"] and msg["code"] == "malformed" and effect is None


def test_expired_command_is_refused():
    msg, effect = run(command("restart", exp=NOW - 1))
    assert not msg["ok"] and msg["code"] == "expired" and effect is None
    msg, effect = run(command("restart", exp=NOW))  # exp itself is still valid
    assert msg["ok"] and effect == ("restart",)


def test_unset_clock_refuses_commands():
    msg, effect = run(command("restart"), now=1000)
    assert not msg["ok"] and msg["code"] == "ts_out_of_window" and effect is None


def test_replayed_id_gets_the_same_reply_without_a_second_effect():
    clock = [NOW]
    handler = CommandHandler(DEV, KEY, lambda: clock[0])
    payload = command("restart", cmd_id="r-1")
    first = handler.handle(payload, Context())
    clock[0] += 30
    second = handler.handle(payload, Context())
    assert first[2] == ("restart",) and second[2] is None and second[1] == first[1]
    for i in range(40):  # the in-memory cache keeps the last 32 ids only
        handler.handle(command("ping", cmd_id=f"p{i}"), Context())
    assert handler.handle(payload, Context())[2] == ("restart",)


def test_seen_store_survives_a_new_handler():
    seen = {}
    payload = command("restart", cmd_id="r-2")
    assert CommandHandler(DEV, KEY, lambda: NOW, seen).handle(payload, Context())[2]
    again = CommandHandler(DEV, KEY, lambda: NOW, seen).handle(payload, Context())
    assert again[2] is None and again[1] == seen["r-2"]


def test_bad_mac_is_answered_but_not_acted_on_nor_cached():
    handler = CommandHandler(DEV, KEY, lambda: NOW)
    forged = command("restart", cmd_id="x", key=b"\x00" * 32)
    msg, effect = run(forged, handler=handler)
    assert not msg["ok"] and msg["code"] == "bad_mac" and effect is None
    _, effect = run(command("restart", cmd_id="x"), handler=handler)
    assert effect == ("restart",)  # the forgery did not poison the genuine id


def test_malformed_and_foreign_commands():
    raw = json.loads(command("ping"))
    raw["name"] = "format_flash"
    msg, effect = run(json.dumps(raw).encode())
    assert not msg["ok"] and msg["code"] == "malformed" and effect is None
    assert run(command("restart", dev="0123456789B"))[0] is None
    assert run(b"\xff\xfe")[0] is None
    assert run(None)[0] is None


def test_failing_context_is_an_error_reply():
    ctx = Context()
    ctx["diagnostics"] = lambda: 1 / 0
    msg, _ = run(command("diagnostics"), ctx)
    assert not msg["ok"] and msg["code"] == "internal_error"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_raise(data):
    run(data)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(command("restart")) - 1), st.integers(0, 255))
def test_mutated_commands_never_act_unless_still_genuine(pos, byte):
    payload = bytearray(command("restart"))
    payload[pos] = byte
    msg, effect = run(bytes(payload))
    if effect is not None:
        assert bytes(payload) == command("restart")


def test_heartbeat_clamps_odd_driver_values():
    topic, payload = build_heartbeat(DEV, 5, -3, float("nan"), "fw\n1.0" + "x" * 40, None,
                                     "Power-On!", -1, "weird", rssi=31, last_error="e" * 99,
                                     drift=10 ** 9, sales=-5)
    msg = messages.parse(payload, "heartbeat")
    assert topic == "t/" + DEV + "/hb"
    assert msg["ts"] == messages.TS_MIN and msg["up"] == 0 and msg["heap"] == 0
    assert msg["rst"] == "poweron" and msg["scn"] == "fault" and msg["rssi"] == 0
    assert len(msg["fw"]) == 24 and len(msg["err"]) == 64 and msg["drift"] == 86400
    _, payload = build_heartbeat(DEV, NOW, 12, 40000, "1.0.0", 3, "soft", 7, "ok")
    msg = messages.parse(payload, "heartbeat")
    assert msg["jn"] == 7 and "rssi" not in msg and "sales" not in msg
