"""Remote commands from the support desk: diagnostics, restart, logs, configuration.

Each command is MACed with the terminal's command key and carries an id (the reply quotes it)
and an expiry (the terminal refuses it afterwards). A terminal that is offline gets it when it
comes back online, unless the command expired in the queue first. A sent command unanswered
after its timeout is marked timed out (a late answer is still recorded). Every request is
audited with who, when and why, and its audit entry gets the result.
"""

import logging
import os
from collections.abc import Callable
from datetime import datetime, timedelta

from fleet_server.domain.support import (
    EXPIRED,
    FAILED,
    OFFLINE,
    QUEUED,
    REASON_MAX,
    REASON_MIN,
    SENT,
    SUCCEEDED,
    TIMED_OUT,
    UNKNOWN,
    AuditEntry,
    Command,
    SupportError,
    check_command,
    clean_text,
    new_command_id,
)
from fleet_server.service_layer.device_status import StatusTracker
from fleet_server.service_layer.keys import KeyStore
from fleet_server.service_layer.messaging import Publish
from fleet_server.service_layer.support_ports import SupportStore
from protocol import auth, messages, topics
from protocol.errors import ProtocolError

log = logging.getLogger("fleet.support")

TIMEOUT_S = (5, 600, 30)  # min, max, default: how long to wait for the answer once sent
QUEUE_TTL_S = (60, 7 * 86400, 24 * 3600)  # how long a command may wait for an offline terminal


class UnknownTerminal(LookupError):
    pass


def _bounded(value: int | None, bounds: tuple[int, int, int], what: str) -> int:
    if value is None:
        return bounds[2]
    if type(value) is not int or not bounds[0] <= value <= bounds[1]:
        raise SupportError(f"{what} is {bounds[0]} to {bounds[1]} seconds")
    return value


class CommandDesk:
    def __init__(self, store: SupportStore, status: StatusTracker, keys: KeyStore,
                 publish: Publish | None, clock: Callable[[], datetime],
                 random_bytes: Callable[[int], bytes] = os.urandom):
        self.store, self.status, self.keys = store, status, keys
        self.publish, self.clock, self.random_bytes = publish, clock, random_bytes

    # ---- from the desk ------------------------------------------------------------------------
    def request(self, actor: str, role: str, device_id: str, name: str, args: dict | None,
                reason: str, timeout_s: int | None = None, queue_ttl_s: int | None = None,
                intervention_id: int | None = None) -> Command:
        reason = clean_text(reason, "reason", REASON_MIN, REASON_MAX)
        args = check_command(name, args)
        timeout = _bounded(timeout_s, TIMEOUT_S, "timeout_s")
        ttl = _bounded(queue_ttl_s, QUEUE_TTL_S, "queue_ttl_s")
        terminal = self.store.terminal(device_id)
        if terminal is None:
            raise UnknownTerminal(f"unknown terminal {device_id}")
        if terminal.state == "retired":
            raise SupportError("this terminal is retired")
        if intervention_id is not None:
            found = self.store.intervention(intervention_id)
            if found is None or found.device_id != device_id:
                raise SupportError("no such intervention on this terminal")
        now = self.clock()
        command = Command(new_command_id(self.random_bytes), device_id, name, args, reason,
                          actor, now, now + timedelta(seconds=ttl), timeout,
                          intervention_id=intervention_id)
        self.store.add_command(command)
        self.store.audit(AuditEntry(now, actor, role, "command:" + name, device_id,
                                    command.command_id, reason, QUEUED))
        connection = self.status.connection(device_id, now)
        if connection in (OFFLINE, UNKNOWN) or self.publish is None:
            self.status.record(device_id, "command", "command_queued", command=name,
                               connection=connection, actor=actor)
        else:
            self._send(command, terminal.key_version, now)
        return command

    # ---- from the terminals -------------------------------------------------------------------
    def on_online(self, device_id: str) -> int:
        """Deliver what waited for this terminal; returns how many were sent."""
        queued = self.store.commands(device_id, states=(QUEUED,))
        if not queued:
            return 0
        terminal = self.store.terminal(device_id)
        now, sent = self.clock(), 0
        for command in sorted(queued, key=lambda c: c.requested_at):
            if command.expires_at <= now:
                self._finish(command, EXPIRED, now)
            elif terminal is not None and self.publish is not None:
                self._send(command, terminal.key_version, now)
                sent += 1
        return sent

    def on_result(self, topic: str, payload: bytes) -> Command | None:
        """A command_res: verified with the terminal's command key, matched by id."""
        try:
            device_id, _ = topics.parse(topic)
            message = messages.parse(payload, "command_res")
            topics.check_sender(topic, message)
            terminal = self.store.terminal(device_id)
            if terminal is None:
                raise ProtocolError("unknown_device", "no such terminal")
            auth.verify(message, self.keys.command_key(device_id, terminal.key_version))
        except ProtocolError as err:
            log.warning("command result on %s refused: %s", topic[:80], err)
            return None
        command = self.store.command(message["id"])
        if command is None or command.device_id != device_id:
            return None  # a command of someone else (a test peer, an operator tool)
        if command.state not in (SENT, TIMED_OUT):
            return command  # a duplicate delivery of an answer already recorded
        command.ok, command.code = message["ok"], message.get("code")
        command.result = message.get("res")
        self._finish(command, SUCCEEDED if command.ok else FAILED, self.clock(),
                     late=command.state == TIMED_OUT)
        if command.ok and command.name == "set_config" and "hb" in command.args:
            self.status.set_interval(device_id, command.args["hb"])
        return command

    def sweep(self) -> int:
        """Time out unanswered commands and expire stale queued ones (the ticker calls this)."""
        now, done = self.clock(), 0
        for command in self.store.commands(states=(SENT, QUEUED), limit=10_000):
            if command.state == SENT and command.deadline_at and command.deadline_at <= now:
                self._finish(command, TIMED_OUT, now)
                done += 1
            elif command.state == QUEUED and command.expires_at <= now:
                self._finish(command, EXPIRED, now)
                done += 1
        return done

    # ---- inside --------------------------------------------------------------------------------
    def _send(self, command: Command, key_version: int, now: datetime) -> None:
        ts = int(now.timestamp())
        fields = {"dev": command.device_id, "ts": ts, "id": command.command_id,
                  "name": command.name, "exp": ts + command.timeout_s}
        if command.args:
            fields["args"] = command.args
        payload = auth.seal(messages.build("command", fields),
                            self.keys.command_key(command.device_id, key_version))
        # Sent before it leaves: a quick terminal answers on the MQTT thread before publish()
        # returns here, and an answer to a command still queued is taken for a duplicate.
        command.state, command.sent_at = SENT, now
        command.deadline_at = now + timedelta(seconds=command.timeout_s)
        self.store.save_command(command)
        self.store.audit_result(command.command_id, SENT)
        try:
            if not self.publish([(topics.topic(command.device_id, "command"), payload, 1, False)]):
                raise RuntimeError("no broker connection")
        except Exception as err:  # no broker connection now: it waits like for an offline one
            log.warning("command %s kept queued: %s", command.command_id, err)
            command.state, command.sent_at, command.deadline_at = QUEUED, None, None
            self.store.save_command(command)
            self.store.audit_result(command.command_id, QUEUED)
            return
        self.status.record(command.device_id, "command", "command_sent", command=command.name,
                           actor=command.requested_by, reason=command.reason)

    def _finish(self, command: Command, state: str, now: datetime, late: bool = False) -> None:
        """The command's end: its audit result is the state, with the terminal's refusal code
        or "late" (answered after the timeout) after a colon; the front ends word it."""
        command.state = state
        if state in (SUCCEEDED, FAILED):
            command.answered_at = now
        self.store.save_command(command)
        outcome = command.code if state == FAILED else None
        self.store.audit_result(command.command_id, audit_outcome(state, outcome, late))
        self.status.record(command.device_id, "command", "command_finished",
                           command=command.name, state=state, refusal=outcome, late=late)


def audit_outcome(state: str, refusal: str | None = None, late: bool = False) -> str:
    """"succeeded", "failed:bad_mac", "succeeded:late", "failed:bad_mac:late"..."""
    return ":".join([state] + ([refusal or ""] if state == FAILED else []) +
                    (["late"] if late else []))[:500]
