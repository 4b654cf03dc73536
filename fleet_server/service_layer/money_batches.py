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
are not part of any transaction of ours.
"""

import logging

from fleet_server.service_layer.money_requests import (
    Reply,
    RequestContext,
    handle_parsed,
    in_transaction,
    parse_request,
)

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
            done = in_transaction([request for _, request in parsed], ctx)
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
