"""Debit and void requests from terminals, end to end, without knowing MQTT or SQL.

Order of checks (docs/protocol.md): topic and message shape -> device known -> Initial Key ID
(current, pending after a re-key, or previous within its grace period) -> MAC -> sequence rules
(per key: a new key starts its counter again) -> (new requests only) time window, device state,
partner rights -> ledger with idempotency key "<device>:<kid>:<seq>" -> store the result -> reply.
Requests stored before key ids existed keep their key "<device>:<seq>" (StoredRequest.ledger_key).

Nothing is stored or answered before the MAC is verified: forged traffic cannot consume
counters, and it gets no result MACed with a transaction's key (such a result, kept by an
attacker, could be injected as the answer to the real request with that counter). Every result
carries the MAC of the request it answers ("rq", inside its own MAC). After the MAC check,
every final result is stored byte for byte: a retransmission gets the same bytes. A ledger
that does not answer leaves a PENDING record: a retransmission asks the ledger again with the
same idempotency key (the ledger moves money at most once) and skips the time window.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from fleet_server.domain.devices import PENDING_KEY, PREVIOUS_KEY
from fleet_server.domain.requests import ANSWERED, DEBIT, PENDING, VOID, StoredRequest
from fleet_server.ledger.port import (
    DebitRequest,
    Ledger,
    LedgerResult,
    LedgerUnavailable,
    VoidRequest,
)
from fleet_server.service_layer.keys import KeyStore
from fleet_server.service_layer.unit_of_work import RequestStore, RequestUnit, RetryRequest
from protocol import dukpt, exchange, messages, seq, tokens, topics
from protocol.errors import ProtocolError

log = logging.getLogger("fleet.requests")

REQUEST_TYPES = {"debit_req": ("debit_res", DEBIT), "void_req": ("void_res", VOID)}


@dataclass(frozen=True)
class Reply:
    topic: str
    payload: bytes
    status: str = ""  # approved, declined or error: what the terminal is told (for metrics)


@dataclass
class RequestContext:
    store: RequestStore
    ledger: Ledger
    keys: KeyStore
    clock: Callable[[], datetime]  # aware UTC
    past_window_s: int = seq.PAST_WINDOW_S
    future_window_s: int = seq.FUTURE_WINDOW_S
    # How long the key before a re-key stays accepted once the new one is in use: requests
    # signed before the switch (a terminal's journal) can still be retransmitted.
    rekey_grace_s: int = 72 * 3600
    # Called with a device id when its DUKPT counter nears exhaustion (Device.needs_rekey);
    # the caller starts a re-key. None: nobody is told (tests).
    on_rekey_needed: Callable[[str], None] | None = None
    # The whole request in one transaction with the ledger (the built-in one on the same
    # database): one commit per request. None: a remote ledger, three short steps below.
    unit: RequestUnit | None = None


_ATTEMPTS = 5  # a lost race needs a twin to win in between; five in a row is a fault


class _Refused(Exception):
    def __init__(self, code: str, store: bool, detail: str = ""):
        super().__init__(code, detail)
        self.code, self.store, self.detail = code, store, detail


def handle(topic: str, payload: bytes, ctx: RequestContext) -> Reply | None:
    """One request from the broker -> the reply to publish, or None when nobody can be answered."""
    request = parse_request(topic, payload)
    return None if request is None else handle_parsed(request, ctx)


def handle_parsed(request: tuple[str, str, dict], ctx: RequestContext) -> Reply | None:
    if ctx.unit is None:
        return _handle_request(*request, ctx)
    return handle_in_one_transaction(request, ctx)


def parse_request(topic: str, payload: bytes) -> tuple[str, str, dict] | None:
    """(device id, message type, message) of a well-formed request; None (logged) otherwise."""
    try:
        device_id, mtype = topics.parse(topic)
    except ProtocolError as err:
        log.warning("dropped message on %r: %s", topic[:80], err)
        return None
    if mtype not in REQUEST_TYPES:
        return None
    try:
        message = messages.parse(payload, mtype)
    except ProtocolError as err:
        return _answer_unparsed(device_id, mtype, err)
    if message["dev"] != device_id:
        log.warning("device %s sent a message naming %s", device_id, message["dev"])
        return None
    return device_id, mtype, message


def in_transaction(requests: list[tuple[str, str, dict]], ctx: RequestContext,
                   careful: bool = False, group: list | None = None) -> list[Reply | None]:
    """Parsed requests handled in order inside one ctx.unit() transaction, committed together
    (a RetryRequest or any failure rolls all of them back). Re-keys start after the commit.
    group: what they will ask for (unit_of_work.Expected), for the unit to read in advance."""
    rekeys: list[str] = []
    with ctx.unit(careful, group) as (store, ledger):
        bound = replace(ctx, store=store, ledger=ledger, unit=None,
                        on_rekey_needed=rekeys.append if ctx.on_rekey_needed else None)
        replies = [_handle_request(*request, bound) for request in requests]
    for rekey_device in rekeys:
        _start_rekey(ctx, rekey_device)
    return replies


def handle_in_one_transaction(request: tuple[str, str, dict], ctx: RequestContext
                              ) -> Reply | None:
    # A lost race (a twin of this request stored first) rolls back everything, money
    # included; the next attempt reads the twin's stored result.
    device_id, _mtype, message = request
    for attempt in range(_ATTEMPTS):
        try:
            return in_transaction([request], ctx, careful=attempt > 0)[0]
        except RetryRequest:
            continue
    log.error("request %s:%d kept conflicting with others; not answered", device_id,
              message["seq"], extra={"device_id": device_id})
    return None


def _handle_request(device_id: str, mtype: str, message: dict, ctx: RequestContext):
    counter, kid, oseq = message["seq"], message["kid"].upper(), message.get("oseq")
    now = ctx.clock()

    def error(code):
        return _error_reply(device_id, mtype, message, code, ctx, result_key)

    # Phase 1, one short read: who is asking, is it authentic, what is it. Until the MAC is
    # verified a refusal is only logged: the terminal sees no answer and retries.
    device, partner, stored, sale = ctx.store.load(device_id, counter, oseq, key_id=kid)
    if device is None:
        log.warning("unknown device %s", device_id)
        return None
    key_role = device.key_role(kid, now)
    if key_role is None:
        log.warning("device %s used key id %s, not its own", device_id, kid)
        return None
    if not dukpt.is_valid_counter(counter):
        log.warning("device %s sent counter %d, not a DUKPT counter", device_id, counter)
        return None
    request_key, result_key = ctx.keys.mac_keys(kid, counter)
    try:
        exchange.check_request(message, request_key)
    except ProtocolError:
        log.warning("bad MAC from %s seq %d", device_id, counter,
                    extra={"device_id": device_id})
        return None
    if key_role == PENDING_KEY:
        # First authentic use of the key a re-key command delivered: it becomes current.
        grace = timedelta(seconds=ctx.rekey_grace_s)
        ctx.store.switch_key(device_id, kid, now + grace)
        device.switch_to_pending_key(now, grace)
        log.info("device %s switched to key id %s", device_id, kid)
    if stored is not None and stored.status == ANSWERED:
        return Reply(topics.topic(device_id, REQUEST_TYPES[mtype][0]), stored.result_payload,
                     stored.result_status or "")
    # Counter order, per key: a stored counter was answered above or is asked again below
    # (its ledger did not answer); a new one must be above the highest accepted.
    highest = device.highest_seq_for(kid)
    if stored is None and counter <= highest:
        log.warning("replay from %s: seq %d <= %d", device_id, counter, highest)
        return error("replay")
    if stored is None and key_role == PREVIOUS_KEY:
        # The replaced key may only retransmit what it signed before the switch (those are
        # stored, or at or below its highest counter then: a replay). Anything new under it
        # is refused: a re-key is also how a leaked key is taken out of service.
        log.warning("device %s: new request seq %d under replaced key %s", device_id,
                    counter, kid)
        return error("key_replaced")
    is_new = stored is None
    if not is_new and device.refusal() == "device_retired":
        # A pending request of a retired terminal is not asked again: it stays pending, for
        # reconciliation with the ledger, and nothing new reaches the ledger from it.
        return error("device_retired")
    record = stored or _new_record(device, mtype, message, now)
    try:
        if is_new:
            _check_new(device, partner, message, now, ctx)
        ledger_call = _ledger_call(record, sale, now, ctx)
    except _Refused as refusal:
        if not refusal.store:
            return error(refusal.code)
        ledger_call = None
        result = LedgerResult(status="error" if refusal.code in _ERRORS else "declined",
                              code=refusal.code)
    # Phase 2, no transaction held: the ledger (remote in production) decides.
    if ledger_call is not None:
        try:
            result = ledger_call()
        except LedgerUnavailable as err:
            log.error("ledger unavailable for %s:%s:%d: %s", device_id, kid, counter, err,
                      extra={"device_id": device_id, "request_key": record.ledger_key})
            if is_new:
                ctx.store.save(record, is_new)
            return error("service_unavailable")
    # Phase 3, one short write: store the final result, then answer.
    reply = _finish(ctx, record, is_new, message, result, now, result_key)
    if (is_new and ctx.on_rekey_needed is not None and kid == device.initial_key_id
            and device.needs_rekey(counter)):  # the key in use, not one on its way out
        _start_rekey(ctx, device_id)
    return reply


def _start_rekey(ctx: RequestContext, device_id: str) -> None:
    try:
        ctx.on_rekey_needed(device_id)
    except Exception:  # the sale is answered; the re-key is asked again next request
        log.exception("re-key of %s could not start", device_id)


_ERRORS = {"device_inactive", "device_retired", "ts_out_of_window", "bad_mac", "replay",
           "key_replaced",
           "malformed", "internal_error", "service_unavailable", "counter_exhausted"}


def _new_record(device, mtype, message, now) -> StoredRequest:
    return StoredRequest(
        device_id=device.device_id, seq=message["seq"], kind=REQUEST_TYPES[mtype][1],
        status=PENDING, created_at=now, partner_id=device.partner_id,
        token=message.get("tok"), amount_cents=message.get("amt", 0),
        category=message.get("cat"), original_seq=message.get("oseq"),
        key_id=message["kid"].upper(),
        ledger_key=f"{device.device_id}:{message['kid'].upper()}:{message['seq']}")


def _check_new(device, partner, message, now, ctx) -> None:
    ts_now = int(now.timestamp())
    if not seq.ts_in_window(message["ts"], ts_now, ctx.past_window_s, ctx.future_window_s):
        raise _Refused("ts_out_of_window", store=True)
    refusal = device.refusal()
    if refusal:
        raise _Refused(refusal, store=True)
    refusal = partner.refusal() if partner else "device_inactive"
    if refusal:
        raise _Refused(refusal, store=True)


def _ledger_call(record, sale, now, ctx) -> Callable[[], LedgerResult]:
    key = record.ledger_key or f"{record.device_id}:{record.key_id}:{record.seq}"
    if record.kind == DEBIT:
        try:
            _kind, token = tokens.parse_token(record.token)
        except ProtocolError as err:
            raise _Refused(err.code, store=True) from err
        request = DebitRequest(
            idempotency_key=key, partner_id=record.partner_id, token=token,
            amount_cents=record.amount_cents, category=record.category, requested_at=now,
            device_id=record.device_id)
        return lambda: ctx.ledger.debit(request)
    if sale is None or sale.kind != DEBIT or not sale.approved or not sale.operation_id:
        raise _Refused("void_unknown", store=True)
    void = VoidRequest(idempotency_key=key, partner_id=record.partner_id,
                       operation_id=sale.operation_id, requested_at=now)
    return lambda: ctx.ledger.void(void)


def _finish(ctx, record, is_new, message, result: LedgerResult, now, result_key) -> Reply:
    res_type = REQUEST_TYPES[message["t"]][0]
    fields = {"ts": int(now.timestamp()), "st": result.status, "amt": result.amount_cents}
    if result.status != "approved":
        fields["code"] = result.code or "internal_error"
    for name, value in (("bal", result.balance_cents), ("auth", result.auth_code),
                        ("op", result.operation_id)):
        if value is not None:
            _add_optional(fields, res_type, name, value)
    payload = exchange.seal_result(message, fields, result_key)
    record.status, record.result_payload, record.answered_at = ANSWERED, payload, now
    record.result_status, record.result_code = result.status, fields.get("code")
    record.operation_id = result.operation_id
    stored = ctx.store.save(record, is_new)
    log.info("%s %s:%d %s %s", record.kind, record.device_id, record.seq, result.status,
             fields.get("code", ""), extra={"device_id": record.device_id,
                                            "request_key": record.ledger_key})
    return Reply(topics.topic(record.device_id, res_type), stored or payload, result.status)


def _add_optional(fields: dict, res_type: str, name: str, value) -> None:
    # What the ledger returns is outside input too: an optional value the protocol cannot
    # carry (a balance over MAX_AMOUNT, an odd operation id) is left out, not fatal.
    checker = messages.MESSAGES[res_type][0][name][0]
    try:
        checker(name, value)
    except ProtocolError as err:
        log.warning("ledger value left out of the result: %s", err)
        return
    fields[name] = value


def _error_reply(device_id, mtype, request, code, ctx, result_key) -> Reply | None:
    """An unstored error result for an authentic request, bound to it by its MAC."""
    res_type = REQUEST_TYPES[mtype][0]
    fields = {"ts": int(ctx.clock().timestamp()), "st": "error", "code": code, "amt": 0}
    try:
        payload = exchange.seal_result(request, fields, result_key)
    except ProtocolError as err:
        log.warning("cannot answer %s seq %r: %s", device_id, request["seq"], err)
        return None
    return Reply(topics.topic(device_id, res_type), payload, "error")


def _answer_unparsed(device_id, mtype, err) -> None:
    # A request that fails validation cannot be authenticated, so it gets no answer: an error
    # MACed for its counter would be a result an attacker could keep (module docstring).
    log.warning("bad %s from %s: %s", mtype, device_id, err)
    return None
