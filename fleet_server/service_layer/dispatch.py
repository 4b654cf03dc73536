"""Every message from the broker goes through here: one table from message type to handler."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from fleet_server.service_layer import money_batches, money_requests
from fleet_server.service_layer.device_config import ConfigPublisher
from fleet_server.service_layer.device_status import StatusTracker
from fleet_server.service_layer.messaging import Outgoing
from protocol import topics
from protocol.errors import ProtocolError

log = logging.getLogger("fleet.dispatch")



@dataclass
class Dispatcher:
    requests: money_requests.RequestContext
    status: StatusTracker
    config: ConfigPublisher | None = None
    support: object | None = None  # support_commands.CommandDesk: results and queued commands
    updates: object | None = None  # campaigns.UpdateService: chunk requests and update reports
    # (topic, payload) of a command_res -> the device id when it confirmed a re-key (it is MACed
    # with the next command key: rekey.confirmed_by_result); its configuration is then sent
    # again, MACed with the key the terminal now holds.
    rekeys: Callable[[str, bytes], str | None] | None = None
    # Whether this process runs the once-only work: with several server processes every one
    # sees every status (each keeps the whole live view), and one sends what a terminal coming
    # online needs (queued commands, its configuration).
    runs_jobs: Callable[[], bool] = lambda: True
    # Told after each debit or void request: (message type, result or "" when unanswered,
    # seconds taken). The metrics adapter listens; nothing else needs to.
    observe: Callable[[str, str, float], None] | None = None
    # device id -> whether it is in the registry (registry_gate.RegistryGate): heartbeats and
    # statuses of other ids are dropped. None: every id is taken (tests).
    registered: Callable[[str], bool] | None = None
    # (topic, payload) of a code_req -> its code_res (code_lookup.handle, bound to its
    # context): a voucher's value before the amount is typed. None: not answered, the
    # terminal falls back to typing the amount.
    codes: Callable[[str, bytes], list[Outgoing]] | None = None
    received: int = 0
    refused: int = 0

    def __call__(self, topic: str, payload: bytes) -> list[Outgoing]:
        self.received += 1
        try:
            device_id, mtype = topics.parse(topic)
        except ProtocolError as err:
            self.refused += 1
            log.warning("dropped message on %r: %s", topic[:80], err)
            return []
        if mtype in money_requests.REQUEST_TYPES:
            started = time.perf_counter()
            reply = money_requests.handle(topic, payload, self.requests)
            if self.observe is not None:
                self.observe(mtype, reply.status if reply else "", time.perf_counter() - started)
            return [(reply.topic, reply.payload, 1, False)] if reply else []
        if mtype in ("heartbeat", "status") and not (
                self.registered is None or self.registered(device_id)):
            self.refused += 1
            return []
        if mtype == "heartbeat":  # the cheap path: memory, and a row every 30 s at most
            self.status.handle(topic, payload)
            return []
        if mtype == "status":
            message = self.status.handle(topic, payload)
            if message is None or not self.runs_jobs():
                return []
            if message["st"] == "online" and self.support is not None:
                try:
                    self.support.on_online(message["dev"])  # commands that waited for it
                except Exception:  # the terminal still gets its configuration below
                    log.exception("queued commands of %s not delivered", message["dev"])
            return self.config.on_status(message["dev"], message) if self.config else []
        if mtype == "command_res":
            switched = self.rekeys(topic, payload) if self.rekeys is not None else None
            if self.support is not None:
                self.support.on_result(topic, payload)
            return self.config.messages_for(switched) if switched and self.config else []
        if mtype == "code_req":
            return self.codes(topic, payload) if self.codes is not None else []
        if mtype in ("update_req", "update_report"):
            return self.updates.handle(topic, payload) if self.updates is not None else []
        log.debug("no handler yet for %s", mtype)
        return []

    def batch(self, items: list[tuple[str, bytes]]) -> list[list[Outgoing]]:
        """Messages queued for one worker, oldest first -> what to publish for each. The debit
        and void requests among them commit in one transaction (money_batches); the others are
        handled one by one after them (nothing they do is read by the money path)."""
        types = [_request_type(topic) for topic, _ in items]
        money = [i for i, mtype in enumerate(types) if mtype]
        if len(money) < 2 or self.requests.unit is None:
            return [self._one(topic, payload) for topic, payload in items]
        started = time.perf_counter()
        replies = money_batches.handle_many([items[i] for i in money], self.requests)
        elapsed = time.perf_counter() - started
        self.received += len(money)
        out: list[list[Outgoing]] = [[] for _ in items]
        for i, reply in zip(money, replies, strict=True):
            out[i] = [(reply.topic, reply.payload, 1, False)] if reply else []
            if self.observe is not None:
                self.observe(types[i], reply.status if reply else "", elapsed)
        taken = set(money)
        for i, (topic, payload) in enumerate(items):
            if i not in taken:
                out[i] = self._one(topic, payload)
        return out

    def _one(self, topic: str, payload: bytes) -> list[Outgoing]:
        try:
            return self(topic, payload)
        except Exception:  # the server never dies on device input; the others go on
            log.exception("handler failed on %s", topic[:80])
            return []


def _request_type(topic: str) -> str | None:
    try:
        mtype = topics.parse(topic)[1]
    except ProtocolError:
        return None
    return mtype if mtype in money_requests.REQUEST_TYPES else None
