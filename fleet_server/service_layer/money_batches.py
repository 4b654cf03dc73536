"""Group commit: the debit and void requests queued for one worker, in one transaction.

The bus routes every message of a device to the same worker queue, in arrival order; handling
a worker's queued requests in that order on one connection keeps each device's order, and a
later request sees what an earlier one wrote (a retransmission queued behind its original
gets the stored bytes). They commit together and only then are the replies published: no
terminal is told a result that is not durable. If one of them loses a race with a twin (on
another server process) or fails, the whole group is rolled back, money included, and each
request is handled again in a transaction of its own; races are rare, so the group's single
commit is what the common case pays.

Only with a RequestUnit (the built-in ledger on the same database): a remote ledger's calls
are not part of any transaction of ours. The unit is told what the group's requests will ask
for (`_expected`), so it may read their rows together beforehand and write theirs together
at the end (on PostgreSQL: adapters/sql_request_unit.py, reference_ledger/within.py).
"""

import logging

from fleet_server.service_layer.money_requests import (
    Reply,
    RequestContext,
    handle_parsed,
    in_transaction,
    parse_request,
)
from fleet_server.service_layer.unit_of_work import Expected
from protocol import tokens
from protocol.errors import ProtocolError

log = logging.getLogger("fleet.requests")


def handle_many(items: list[tuple[str, bytes]], ctx: RequestContext) -> list[Reply | None]:
    """(topic, payload) of requests, oldest first -> their replies (None: no answer)."""
    replies: list[Reply | None] = [None] * len(items)
    parsed = []
    for index, (topic, payload) in enumerate(items):
        request = parse_request(topic, payload)
        if request is not None:
            parsed.append((index, request))
    if len(parsed) > 1 and ctx.unit is not None:
        try:
            requests = [request for _, request in parsed]
            done = in_transaction(requests, ctx, group=[_expected(r) for r in requests])
        except Exception as err:  # a lost race or one bad request: each on its own instead
            log.info("group of %d requests rolled back (%s); one transaction each",
                     len(parsed), type(err).__name__)
        else:
            for (index, _), reply in zip(parsed, done, strict=True):
                replies[index] = reply
            return replies
    for index, request in parsed:
        replies[index] = _alone(request, ctx)
    return replies


def _alone(request, ctx: RequestContext) -> Reply | None:
    try:
        return handle_parsed(request, ctx)
    except Exception:  # the server never dies on device input; the others still get answers
        log.exception("request %s:%s failed", request[0], request[2].get("seq"))
        return None


def _expected(request: tuple[str, str, dict]) -> Expected:
    """What the request will ask the store and the ledger for (money_requests' own reading
    of it: the key id in capitals, the card or voucher code as the ledger gets it)."""
    device_id, mtype, message = request
    token = None
    if mtype == "debit_req" and isinstance(message.get("tok"), str):
        try:
            token = tokens.parse_token(message["tok"])[1]
        except ProtocolError:
            pass  # refused by the request's own handling; nothing to read for it
    return Expected(device_id, message["kid"].upper(), message["seq"], message.get("oseq"),
                    token)
