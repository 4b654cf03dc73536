"""Code lookups from terminals: what a scanned voucher or coupon is worth, asked before the
clerk types an amount, so the terminal can show the value and have it confirmed with one key.

Read-only, like money_requests.py without the money: nothing is stored, no DUKPT counter is
spent (the request is MACed with the device's command key), and the debit that may follow is
decided by the ledger as any other. Checks: topic and message shape -> the device named in the
topic is the one in the message -> device known -> MAC (current command key, or the next one
while a re-key waits for its confirmation) -> time window, device and partner state -> ledger.
Until the MAC is verified nothing is answered (logged only): the terminal falls back to typing
the amount after its timeout. An authentic request always gets an answer, bound to it by its
nonce ("id") and its MAC ("rq"), so an answer kept by an attacker cannot pass for another
scan's; a refusal carries its decline code ("voucher_used", "ts_out_of_window"...).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from fleet_server.ledger.port import Ledger, LedgerUnavailable
from fleet_server.service_layer.keys import KeyStore
from fleet_server.service_layer.messaging import Outgoing
from protocol import exchange, messages, seq, tokens, topics
from protocol.errors import ProtocolError, is_known

log = logging.getLogger("fleet.codes")

REQUEST_TYPE, ANSWER_TYPE = "code_req", "code_res"



@dataclass
class LookupContext:
    # RequestStore.load: (device, its partner, ...) from a device id; read only here.
    load: Callable
    ledger: Ledger
    keys: KeyStore
    clock: Callable[[], datetime]  # aware UTC
    past_window_s: int = seq.PAST_WINDOW_S
    future_window_s: int = seq.FUTURE_WINDOW_S


def handle(topic: str, payload: bytes, ctx: LookupContext) -> list[Outgoing]:
    """One code_req from the broker -> the code_res to publish ([] when nobody can be told)."""
    try:
        device_id, mtype = topics.parse(topic)
        if mtype != REQUEST_TYPE:
            return []
        message = messages.parse(payload, REQUEST_TYPE)
    except ProtocolError as err:
        log.warning("bad code lookup on %r: %s", topic[:80], err)
        return []
    if message["dev"] != device_id:
        log.warning("device %s sent a code lookup naming %s", device_id, message["dev"])
        return []
    device, partner, _stored, _sale = ctx.load(device_id, 0)
    if device is None:
        log.warning("code lookup from unknown device %s", device_id)
        return []
    key = _verified_key(ctx.keys, device, message)
    if key is None:
        log.warning("bad MAC on a code lookup from %s", device_id, extra={"device_id": device_id})
        return []
    fields = {"ts": int(ctx.clock().timestamp()), "tok": message["tok"], "amt": 0}
    code = _refusal(device, partner, message, fields["ts"], ctx)
    if code is None:
        code = _ask_ledger(ctx.ledger, device.partner_id, message["tok"], fields)
    if code is not None:
        fields["code"] = code
    try:
        answer = exchange.seal_result(message, fields, key)
    except ProtocolError as err:  # the ledger's values are outside input too
        log.warning("cannot answer a code lookup of %s: %s", device_id, err)
        return []
    log.info("code lookup %s: %s", device_id, code or "usable", extra={"device_id": device_id})
    return [(topics.topic(device_id, ANSWER_TYPE), answer, topics.qos(ANSWER_TYPE), False)]


def _verified_key(keys: KeyStore, device, message: dict) -> bytes | None:
    # The next command key too while a re-key awaits its confirmation: the terminal signs
    # with it from the moment it installed it (rekey.confirm_by_command_key).
    versions = [device.key_version]
    if device.pending_key_id is not None:
        versions.append(device.key_version + 1)
    for version in versions:
        key = keys.command_key(device.device_id, version)
        try:
            exchange.check_request(message, key)
            return key
        except ProtocolError:
            continue
    return None


def _refusal(device, partner, message: dict, now_ts: int, ctx: LookupContext) -> str | None:
    if not seq.ts_in_window(message["ts"], now_ts, ctx.past_window_s, ctx.future_window_s):
        return "ts_out_of_window"
    refusal = device.refusal()
    if refusal:
        return refusal
    refusal = partner.refusal() if partner else "device_inactive"
    if refusal:
        return refusal
    try:
        kind, _code = tokens.parse_token(message["tok"])
    except ProtocolError as err:
        return err.code
    return None if kind != "card" else "unknown_code"  # a card has no fixed value


def _ask_ledger(ledger: Ledger, partner_id: str, token: str, fields: dict) -> str | None:
    try:
        info = ledger.lookup(partner_id, tokens.parse_token(token)[1])
    except LedgerUnavailable as err:
        log.warning("code lookup: ledger unavailable: %s", err)
        return "service_unavailable"  # not final: the terminal has the amount typed instead
    except Exception:  # a ledger bug must not take the server down with it
        log.exception("code lookup: ledger failed")
        return "internal_error"
    if isinstance(info.value_cents, int) and 0 <= info.value_cents <= messages.MAX_AMOUNT:
        fields["amt"] = info.value_cents
    if isinstance(info.category, str) and _fits(info.category):
        fields["cat"] = info.category
    if info.code is not None and not (isinstance(info.code, str) and is_known(info.code)):
        log.error("code lookup: the ledger answered an unknown code %r", info.code)
        return "internal_error"
    return info.code


def _fits(category: str) -> bool:
    try:
        messages.MESSAGES[ANSWER_TYPE][0]["cat"][0]("cat", category)
    except ProtocolError:
        return False
    return True
