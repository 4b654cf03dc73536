"""Commands are single use across reboots: the persisted high-water mark of command times."""

from terminal.commands import MAX_SAME_TS, CommandHandler

from protocol import auth, messages

DEV = "0123456789A"
KEY = bytes(range(32))
NOW = 1760000000


def command(name, cmd_id, ts=NOW):
    return auth.seal(messages.build("command", {"dev": DEV, "ts": ts, "id": cmd_id,
                                                "name": name, "exp": ts + 300}), KEY)


def boot(mark, now=NOW + 10):
    """A fresh handler, as after a reboot: RAM dedup empty, only the flash mark left."""
    return CommandHandler(DEV, KEY, lambda: now, mark=str(mark))


def outcome(handler, payload):
    _topic, reply, effect = handler.handle(payload, {})
    msg = messages.parse(reply, "command_res")
    return msg["ok"], msg.get("code"), effect


def test_a_captured_restart_replayed_after_a_reboot_is_refused(tmp_path):
    mark = tmp_path / "cmd.json"
    restart = command("restart", "boot-1")
    assert outcome(boot(mark), restart) == (True, None, ("restart",))
    assert outcome(boot(mark), restart) == (False, "replay", None)
    assert outcome(boot(mark), command("restart", "boot-2", NOW + 1))[2] == ("restart",)
    assert outcome(boot(mark), command("ping", "older", NOW))[1] == "replay"


def test_commands_sent_within_one_second_all_run_once(tmp_path):
    mark = tmp_path / "cmd.json"
    ids = [f"c{i}" for i in range(MAX_SAME_TS)]
    for cmd_id in ids:
        assert outcome(boot(mark), command("ping", cmd_id))[0] is True
    for cmd_id in ids:
        assert outcome(boot(mark), command("ping", cmd_id))[1] == "replay"


def test_a_mark_that_cannot_be_written_refuses_the_command(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    handler = boot(blocked / "cmd.json")  # its folder is a file: every write fails
    assert outcome(handler, command("restart", "boot-1")) == (False, "internal_error", None)
