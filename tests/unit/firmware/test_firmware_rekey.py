"""Re-key on the terminal (CPython run of the firmware code): the "rekey" command, the key
wrap, and KeyVault.install_key's power-loss safety. The same code runs on the MicroPython
binary in tests/e2e/test_rekey_firmware.py."""

import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from terminal import keys, store
from terminal.commands import CommandHandler

from protocol import auth, dukpt, keywrap, messages
from protocol.errors import ProtocolError

BDK = bytes(range(16))
DEV = "CT4F7KQ2MZ1"
OLD = "0000A00100000001"
NEW = "0000A00100000002"
COMMAND_KEY = bytes(range(32, 64))
NEXT_KEY = bytes(range(64, 96))  # the command key a re-key delivers with the Initial Key
NOW = 1764147600


def ik(kid):
    return dukpt.derive_initial_key(BDK, bytes.fromhex(kid))


def provision(root):
    keys.provision(str(root), DEV, OLD, ik(OLD).hex(), COMMAND_KEY.hex())
    return keys.KeyVault(str(root))


def rekey_command(kid=NEW, cmd_id="rk1", ts=NOW, key=COMMAND_KEY, dev=DEV, args=None,
                  next_key=NEXT_KEY):
    args = args or keywrap.wrap(key, dev, kid, ik(kid), os.urandom(16), next_key)
    return auth.seal(messages.build("command", {
        "dev": DEV, "ts": ts, "id": cmd_id, "name": "rekey", "args": args, "exp": ts + 600}),
        key)


def command(name, cmd_id, key, ts=NOW):
    return auth.seal(messages.build("command", {
        "dev": DEV, "ts": ts, "id": cmd_id, "name": name, "exp": ts + 600}), key)


def run(handler, payload, vault, reply_key=COMMAND_KEY):
    topic, reply, effect = handler.handle(payload, {"install_key": vault.install_key})
    message = messages.parse(reply, "command_res")
    auth.verify(message, reply_key)
    return message, effect


def test_wrap_round_trip_and_binding():
    args = keywrap.wrap(COMMAND_KEY, DEV, NEW, ik(NEW), bytes(16), NEXT_KEY)
    assert keywrap.unwrap(COMMAND_KEY, DEV, args) == (NEW.lower(), ik(NEW), NEXT_KEY)
    assert ik(NEW).hex() not in args["ik"] and NEXT_KEY.hex() not in args["ik"]
    for key, dev, change in ((bytes(32), DEV, {}), (COMMAND_KEY, "CT0000000001", {}),
                             (COMMAND_KEY, DEV, {"kid": OLD.lower()}),
                             (COMMAND_KEY, DEV, {"ik": "00" * 48}),
                             (COMMAND_KEY, DEV, {"n": "11" * 16})):
        with pytest.raises(ProtocolError) as err:
            keywrap.unwrap(key, dev, dict(args, **change))
        assert err.value.code == "bad_mac"
    long_key = os.urandom(32)  # AES-256 Initial Keys fit too
    assert keywrap.unwrap(COMMAND_KEY, DEV, keywrap.wrap(COMMAND_KEY, DEV, NEW, long_key,
                                                         os.urandom(16), NEXT_KEY))[1:] == \
        (long_key, NEXT_KEY)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["kid", "n", "ik", "tag", "x"]),
                       st.one_of(st.text(max_size=70), st.integers(), st.none()), max_size=5))
def test_hostile_wrap_args_are_refused_with_a_code(args):
    with pytest.raises(ProtocolError) as err:
        keywrap.unwrap(COMMAND_KEY, DEV, args)
    assert err.value.code in ("malformed", "unknown_field", "bad_mac")


def test_the_command_installs_the_key_and_the_next_request_uses_it(tmp_path):
    vault = provision(tmp_path)
    assert [vault.next_transaction()[0] for _ in range(3)] == [1, 2, 3]
    handler = CommandHandler(DEV, COMMAND_KEY, lambda: NOW + 5)
    message, effect = run(handler, rekey_command(), vault, reply_key=NEXT_KEY)
    assert message["ok"] and message["res"] == {"kid": NEW.lower(), "installed": True}
    assert effect == ("rekey", NEW.lower())
    assert vault.kid == NEW.lower()
    seq, request_key, _ = vault.next_transaction()
    assert seq == 1 and request_key == auth.dukpt_mac_key(
        BDK, bytes.fromhex(NEW), 1, messages.DUKPT_REQUEST)
    device = json.loads((tmp_path / "device.json").read_text())
    assert "initial_key" not in device and device["initial_key_id"] == NEW.lower()
    # after a reboot the new key is still the one in use, its counter not rewound
    assert keys.KeyVault(str(tmp_path)).next_transaction()[0] == 2
    # the same command again (QoS 1 redelivery): the same reply bytes, no second install
    again = handler.handle(rekey_command(), {"install_key": vault.install_key})
    assert again[2] is None


def test_a_rekey_rotates_the_command_key(tmp_path):
    # The attack: whoever held the command key before the re-key (the reason for many a
    # re-key) keeps commanding the terminal. After it, only the new key is obeyed.
    vault = provision(tmp_path)
    handler = CommandHandler(DEV, COMMAND_KEY, lambda: NOW + 5)
    message, _ = run(handler, rekey_command(), vault, reply_key=NEXT_KEY)
    with pytest.raises(ProtocolError):  # the reply proves the new key to the server
        run(handler, rekey_command(cmd_id="rk1"), vault, reply_key=COMMAND_KEY)
    assert vault.command_key == NEXT_KEY
    assert json.loads((tmp_path / "device.json").read_text())["command_key"] == NEXT_KEY.hex()
    message, effect = run(handler, command("restart", "old-key", COMMAND_KEY), vault, NEXT_KEY)
    assert (message["ok"], message["code"], effect) == (False, "bad_mac", None)
    message, effect = run(handler, command("ping", "new-key", NEXT_KEY), vault, NEXT_KEY)
    assert message["ok"]
    # after a reboot too
    assert keys.KeyVault(str(tmp_path)).command_key == NEXT_KEY


def test_power_loss_before_the_commit_point_keeps_the_old_key(tmp_path, monkeypatch):
    vault = provision(tmp_path)
    vault.next_transaction()
    real = store.save_json

    def cut(path, data):
        if path.endswith("device.json"):
            raise OSError("power lost")
        real(path, data)

    monkeypatch.setattr(store, "save_json", cut)
    with pytest.raises(OSError):
        vault.install_key(NEW, ik(NEW), NOW, NEXT_KEY)
    monkeypatch.setattr(store, "save_json", real)
    rebooted = keys.KeyVault(str(tmp_path))
    assert rebooted.kid == OLD.lower() and rebooted.next_transaction()[0] == 2
    assert rebooted.command_key == COMMAND_KEY


def test_power_loss_after_the_commit_point_finishes_the_install_at_boot(tmp_path,
                                                                          monkeypatch):
    vault = provision(tmp_path)
    vault.next_transaction()
    real = store.save_json

    def cut(path, data):
        if path.endswith("dukpt.json"):
            raise OSError("power lost")
        real(path, data)

    monkeypatch.setattr(store, "save_json", cut)
    with pytest.raises(OSError):
        vault.install_key(NEW, ik(NEW), NOW, NEXT_KEY)
    monkeypatch.setattr(store, "save_json", real)
    rebooted = keys.KeyVault(str(tmp_path))
    assert rebooted.kid == NEW.lower() and rebooted.next_transaction()[0] == 1
    assert rebooted.command_key == NEXT_KEY
    assert "initial_key" not in json.loads((tmp_path / "device.json").read_text())


def test_a_flash_failure_is_reported_and_the_old_key_stays(tmp_path, monkeypatch):
    vault = provision(tmp_path)

    def full(path, data):
        raise OSError(28, "no space left")

    monkeypatch.setattr(store, "save_json", full)
    message, effect = run(CommandHandler(DEV, COMMAND_KEY, lambda: NOW), rekey_command(), vault)
    assert not message["ok"] and message["code"] == "internal_error" and effect is None
    assert vault.kid == OLD.lower()


def test_forged_stale_and_malformed_rekeys_are_refused(tmp_path):
    vault = provision(tmp_path)
    handler = CommandHandler(DEV, COMMAND_KEY, lambda: NOW)
    forged = keywrap.wrap(bytes(32), DEV, NEW, ik(NEW), os.urandom(16), NEXT_KEY)  # not ours
    message, _ = run(handler, rekey_command(cmd_id="a", args=forged), vault)
    assert message["code"] == "bad_mac"
    message, _ = run(handler, rekey_command(cmd_id="b", args={"kid": NEW}), vault)
    assert message["code"] == "malformed"
    message, _ = run(handler, rekey_command(cmd_id="c", ts=NOW - 700), vault)
    assert message["code"] == "expired"
    assert vault.kid == OLD.lower()
    # installed by a newer command, an older captured one cannot roll the key back
    assert run(handler, rekey_command(cmd_id="d", ts=NOW), vault, NEXT_KEY)[0]["ok"]
    older = rekey_command(kid="0000A00100000003", cmd_id="e", ts=NOW - 60, key=NEXT_KEY,
                          next_key=bytes(32))
    message, _ = run(handler, older, vault, NEXT_KEY)
    assert (message["ok"], message["code"]) == (False, "replay")
    assert vault.kid == NEW.lower()


def test_without_a_key_vault_the_command_says_so(tmp_path):
    handler = CommandHandler(DEV, COMMAND_KEY, lambda: NOW)
    topic, reply, effect = handler.handle(rekey_command(), {})
    message = messages.parse(reply, "command_res")
    assert message["code"] == "internal_error" and effect is None
