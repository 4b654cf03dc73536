"""HttpLedger against create_ledger_app on a real uvicorn server on 127.0.0.1: the round trip,
the HTTP contract, and how the client behaves when the server is slow, down or talks nonsense."""

import json
import secrets
import threading
import time
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response
from http_server import free_port, serve

from fleet_server.ledger.http_client import HttpLedger, LedgerRefused
from fleet_server.ledger.port import (
    APPROVED,
    DECLINED,
    DebitRequest,
    Ledger,
    LedgerResult,
    LedgerUnavailable,
    VoidRequest,
)
from fleet_server.reference_ledger.http_app import create_ledger_app

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class MemoryLedger(Ledger):
    """Approves up to 1000 cents, declines more; one answer per (partner, key); can be told to
    be unavailable a number of times, or to hang until released."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.calls: list = []
        self.answers: dict = {}
        self.unavailable = 0
        self.hang: threading.Event | None = None

    def _call(self, request, decide) -> LedgerResult:
        with self.lock:
            self.calls.append(request)
            hang = self.hang
            if self.unavailable:
                self.unavailable -= 1
                raise LedgerUnavailable("down (fake)")
        if hang is not None:
            hang.wait(5)
        with self.lock:
            scope = (request.partner_id, request.idempotency_key)
            if scope not in self.answers:
                self.answers[scope] = decide(request, len(self.answers))
            return self.answers[scope]

    def debit(self, request: DebitRequest) -> LedgerResult:
        def decide(r, n):
            if r.amount_cents > 1000:
                return LedgerResult(DECLINED, "insufficient_balance", balance_cents=1000)
            return LedgerResult(APPROVED, None, r.amount_cents, 1000 - r.amount_cents,
                                f"OP{n:08d}", "A1B2C3")
        return self._call(request, decide)

    def void(self, request: VoidRequest) -> LedgerResult:
        def decide(r, _n):
            if r.operation_id == "OP-BOOM":
                raise RuntimeError("ledger bug (fake)")
            if not r.operation_id.startswith("OP"):
                return LedgerResult(DECLINED, "void_unknown")
            return LedgerResult(APPROVED, None, 100, 1000, r.operation_id, "V1V2V3")
        return self._call(request, decide)


@pytest.fixture(scope="module")
def memory_server():
    ledger = MemoryLedger()
    with serve(create_ledger_app(ledger, TOKEN)) as url:
        yield ledger, url


@pytest.fixture
def memory(memory_server):
    ledger, _url = memory_server
    ledger.reset()
    yield ledger
    if ledger.hang is not None:
        ledger.hang.set()


@pytest.fixture
def url(memory_server, memory):
    return memory_server[1]


@pytest.fixture
def client(url):
    with HttpLedger(url, token=TOKEN, timeout_s=2.0, backoff_s=0.01) as ledger:
        yield ledger


def debit(key=None, amount=500, partner="shop-1", token="973100000420", category="books"):
    # A fresh key by default: the server remembers keys for the whole module.
    return DebitRequest(key or f"CT0001:{secrets.randbelow(10**9)}", partner, token, amount,
                        category, datetime.now(UTC), device_id="CT0001")


def body(**changes):
    out = {"partner_id": "shop-1", "token": "973100000420", "amount_cents": 500,
           "category": "books", "requested_at": "2024-05-04T10:00:00+02:00",
           "device_id": "CT0001"}
    out.update(changes)
    return out


# Round trips.

def test_an_approval_makes_the_round_trip(client, memory):
    result = client.debit(debit(key="CT0001:1", amount=550))
    assert result == LedgerResult(APPROVED, None, 550, 450, "OP00000000", "A1B2C3")
    [seen] = memory.calls
    assert seen == DebitRequest("CT0001:1", "shop-1", "973100000420", 550, "books",
                                seen.requested_at, "CT0001")
    assert seen.requested_at.tzinfo is not None


def test_a_decline_makes_the_round_trip(client):
    result = client.debit(debit(amount=5_000))
    assert result == LedgerResult(DECLINED, "insufficient_balance", 0, 1000)
    assert not result.approved


def test_voids_make_the_round_trip(client):
    assert client.void(VoidRequest("v:1", "shop-1", "OP00000007", datetime.now(UTC))
                       ) == LedgerResult(APPROVED, None, 100, 1000, "OP00000007", "V1V2V3")
    assert client.void(VoidRequest("v:2", "shop-1", "nope", datetime.now(UTC))
                       ).code == "void_unknown"


def test_the_idempotency_key_travels_as_a_header_and_gets_the_first_answer(client, memory):
    first = client.debit(debit(key="CT0009:42"))
    again = client.debit(debit(key="CT0009:42"))
    assert first == again and [c.idempotency_key for c in memory.calls] == ["CT0009:42"] * 2
    assert len(memory.answers) == 1


def test_a_non_positive_amount_is_declined_without_asking(client, memory):
    assert client.debit(debit(amount=0)) == LedgerResult(DECLINED, "amount_invalid")
    assert client.debit(debit(amount=-5)).code == "amount_invalid"
    assert memory.calls == []


def test_a_key_reused_for_another_request_is_refused_with_409(client, url):
    assert client.debit(debit(key="K:1", amount=100)).approved
    with pytest.raises(LedgerRefused) as caught:
        client.debit(debit(key="K:1", amount=200))
    assert caught.value.status_code == 409 and "different request" in str(caught.value)
    assert client.debit(debit(key="K:1", amount=200, partner="shop-2")).approved


# Retries and deadlines.

def test_a_503_is_retried_with_the_same_key_until_it_succeeds(client, memory):
    memory.unavailable = 2
    assert client.debit(debit(key="CT0002:7")).approved
    assert [c.idempotency_key for c in memory.calls] == ["CT0002:7"] * 3


def test_a_ledger_that_stays_unavailable_gives_up_after_the_retries(url, memory):
    memory.unavailable = 100
    with HttpLedger(url, token=TOKEN, retries=2, backoff_s=0.01) as client:
        with pytest.raises(LedgerUnavailable, match="3 attempt.*HTTP 503"):
            client.debit(debit())
    assert len(memory.calls) == 3


def test_a_hanging_ledger_fails_by_the_deadline(url, memory):
    memory.hang = threading.Event()
    with HttpLedger(url, token=TOKEN, timeout_s=0.4) as client:
        start = time.monotonic()
        with pytest.raises(LedgerUnavailable, match="within 0.4 s.*ReadTimeout"):
            client.debit(debit())
        elapsed = time.monotonic() - start
    assert 0.35 <= elapsed < 0.8


def test_short_attempts_are_retried_within_the_overall_deadline(url, memory):
    memory.hang = threading.Event()
    with HttpLedger(url, token=TOKEN, timeout_s=0.6, attempt_timeout_s=0.15,
                    backoff_s=0.01) as client:
        start = time.monotonic()
        with pytest.raises(LedgerUnavailable):
            client.debit(debit(key="CT0003:1"))
        elapsed = time.monotonic() - start
    assert elapsed < 1.0
    assert len(memory.calls) >= 3
    assert {c.idempotency_key for c in memory.calls} == {"CT0003:1"}


def test_a_refused_connection_fails_quickly():
    with HttpLedger(f"http://127.0.0.1:{free_port()}", timeout_s=2.0) as client:
        start = time.monotonic()
        with pytest.raises(LedgerUnavailable, match="4 attempt.*ConnectError"):
            client.debit(debit())
        assert time.monotonic() - start < 1.0  # backoff 0.1 + 0.2 + 0.4 at most


# Refusals.

def test_a_wrong_token_is_refused_with_401(url):
    with HttpLedger(url, token="wrong", backoff_s=0.01) as client:
        with pytest.raises(LedgerRefused, match="401") as caught:
            client.debit(debit())
    assert caught.value.status_code == 401
    response = httpx.post(f"{url}/v1/debits", json=body(), headers={"Idempotency-Key": "k"})
    assert response.status_code == 401 and response.json()["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert httpx.get(f"{url}/v1/health").json() == {"status": "ok"}  # open to probes


@pytest.mark.parametrize(("changes", "field"), [
    ({"amount_cents": -100}, "amount_cents"),
    ({"amount_cents": 0}, "amount_cents"),
    ({"amount_cents": "100"}, "amount_cents"),
    ({"amount_cents": 1.5}, "amount_cents"),
    ({"partner_id": "x" * 41}, "partner_id"),
    ({"token": ""}, "token"),
    ({"requested_at": "2024-05-04T10:00:00"}, "requested_at"),
    ({"requested_at": 1714800000}, "requested_at"),
    ({"surprise": 1}, "surprise"),
])
def test_an_invalid_body_gets_422_naming_the_field(url, memory, changes, field):
    response = httpx.post(f"{url}/v1/debits", json=body(**changes),
                          headers={**AUTH, "Idempotency-Key": "k"})
    assert response.status_code == 422
    answer = response.json()
    assert answer["error"] == "invalid_request" and answer["detail"].startswith(field)
    assert [e["field"] for e in answer["errors"]] == [field]
    assert memory.calls == []


def test_the_idempotency_key_header_is_required(url, memory):
    response = httpx.post(f"{url}/v1/debits", json=body(), headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error"] == "missing_idempotency_key"
    response = httpx.post(f"{url}/v1/debits", json=body(),
                          headers={**AUTH, "Idempotency-Key": "k" * 129})
    assert response.status_code == 400
    assert memory.calls == []


def test_a_ledger_exception_is_a_json_500_and_the_server_lives_on(client, url):
    with pytest.raises(LedgerRefused, match="500.*RuntimeError") as caught:
        client.void(VoidRequest("v:9", "shop-1", "OP-BOOM", datetime.now(UTC)))
    assert caught.value.status_code == 500
    response = httpx.post(f"{url}/v1/voids", headers={**AUTH, "Idempotency-Key": "v:10"},
                          json={"partner_id": "p", "operation_id": "OP-BOOM",
                                "requested_at": "2024-05-04T10:00:00Z"})
    assert response.status_code == 500 and response.json()["error"] == "ledger_error"
    assert client.debit(debit(key="after")).approved


# A server that answers what the test says: malformed answers, statuses, what it was sent.

class Script:
    def __init__(self):
        self.replies: list[tuple[int, str]] = []
        self.seen: list[tuple[dict, dict]] = []


@pytest.fixture(scope="module")
def scripted_server():
    script = Script()
    app = FastAPI()

    @app.post("/v1/{kind}")
    async def reply(kind: str, request: Request):
        script.seen.append((dict(request.headers), json.loads(await request.body())))
        status, text = script.replies.pop(0) if script.replies else (500, "no reply scripted")
        return Response(text, status_code=status, media_type="application/json")

    with serve(app) as url:
        yield script, url


@pytest.fixture
def scripted(scripted_server):
    script, url = scripted_server
    script.replies.clear()
    script.seen.clear()
    with HttpLedger(url, token=TOKEN, backoff_s=0.01) as client:
        yield script, client


GOOD = {"status": "approved", "code": None, "amount_cents": 500, "balance_cents": 500,
        "operation_id": "OP1", "auth_code": "ABC123"}


def test_what_goes_on_the_wire(scripted):
    script, client = scripted
    script.replies.append((200, json.dumps(GOOD)))
    client.debit(DebitRequest("CT0001:5", "shop-1", "973100000420", 500, None,
                              datetime(2024, 5, 4, 10, tzinfo=UTC), None))
    [(headers, sent)] = script.seen
    assert headers["idempotency-key"] == "CT0001:5"
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert sent == {"partner_id": "shop-1", "token": "973100000420", "amount_cents": 500,
                    "category": None, "requested_at": "2024-05-04T10:00:00+00:00",
                    "device_id": None}


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_are_retried(scripted, status):
    script, client = scripted
    script.replies += [(status, '{"detail": "busy"}'), (200, json.dumps(GOOD))]
    assert client.debit(debit(key="CT0001:6")).approved
    assert [h["idempotency-key"] for h, _ in script.seen] == ["CT0001:6"] * 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 500])
def test_other_errors_are_not_retried(scripted, status):
    script, client = scripted
    script.replies += [(status, '{"error": "x", "detail": "no"}'), (200, json.dumps(GOOD))]
    with pytest.raises(LedgerRefused) as caught:
        client.debit(debit())
    assert caught.value.status_code == status and len(script.seen) == 1


@pytest.mark.parametrize("text", [
    "<html>gateway</html>",
    "",
    "[]",
    json.dumps({k: v for k, v in GOOD.items() if k != "balance_cents"}),
    json.dumps({**GOOD, "status": "maybe"}),
    json.dumps({**GOOD, "amount_cents": "500"}),
    json.dumps({**GOOD, "amount_cents": True}),
    json.dumps({**GOOD, "amount_cents": -1}),
    json.dumps({**GOOD, "operation_id": None}),
    json.dumps({**GOOD, "status": "declined"}),
    json.dumps({**GOOD, "status": "declined", "code": "no_such_code"}),
], ids=["html", "empty", "list", "missing", "status", "str-amount", "bool-amount",
        "negative", "no-operation", "decline-no-code", "unknown-code"])
def test_a_malformed_answer_is_refused(scripted, text):
    script, client = scripted
    script.replies.append((200, text))
    with pytest.raises(LedgerUnavailable, match="malformed answer"):
        client.debit(debit())


def test_extra_fields_in_an_answer_are_ignored(scripted):
    script, client = scripted
    script.replies.append((200, json.dumps({**GOOD, "new_field": 1})))
    assert client.debit(debit()).operation_id == "OP1"


def test_bad_arguments_are_refused_before_sending():
    with pytest.raises(ValueError):
        HttpLedger("ftp://ledger.example")
    with HttpLedger("http://127.0.0.1:9") as client:
        with pytest.raises(ValueError):
            client.debit(debit(key="clé"))
        with pytest.raises(ValueError):
            client.debit(DebitRequest("k", "p", "t", 1, None, datetime(2024, 5, 4), None))


@pytest.mark.parametrize("status,answer", [
    (503, {"error": "ledger_unavailable", "detail": "down"}),
    (500, {"error": "ledger_error", "detail": "bug"}),
    (200, {"code": "no_such_code", "value_cents": 900, "category": "books"}),
    (200, {"code": None, "value_cents": -1, "category": "books"}),
    (200, {"code": None, "value_cents": True, "category": None}),
    (200, {"value_cents": 900}),
    (200, ["not", "an", "object"]),
])
def test_a_lookup_that_is_not_a_valid_answer_is_unavailable_not_a_crash(status, answer):
    transport = httpx.MockTransport(lambda request: httpx.Response(status, json=answer))
    with HttpLedger("http://ledger.test", transport=transport) as ledger, \
            pytest.raises(LedgerUnavailable):
        ledger.lookup("shop-1", "2DZHB6PQ6")


def test_a_lookup_makes_one_attempt_and_sends_no_idempotency_key():
    seen = []

    def answer(request):
        seen.append(request)
        return httpx.Response(200, json={"code": "voucher_used", "value_cents": 30000,
                                         "category": "driving"})

    with HttpLedger("http://ledger.test", transport=httpx.MockTransport(answer)) as ledger:
        info = ledger.lookup("shop-1", "2DZHB6PQ6")
    assert (info.code, info.value_cents, info.category) == ("voucher_used", 30000, "driving")
    [request] = seen
    assert request.url.path == "/v1/lookups" and "Idempotency-Key" not in request.headers
    assert json.loads(request.content) == {"partner_id": "shop-1", "token": "2DZHB6PQ6"}
