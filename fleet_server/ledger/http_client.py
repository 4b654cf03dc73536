"""The Ledger port over HTTP: a client of the contract served by http_app.py.

Every debit and void carries its idempotency key (Idempotency-Key header), so sending it again
is safe: the ledger answers a retry with its first answer and moves money at most once. Hence
retries on connection errors, timeouts and 502/503/504, with exponential backoff and jitter,
all within one overall deadline. Anything else that is not an answer (another status, a body
that is not a valid result) raises LedgerUnavailable, which the fleet server turns into the
"service_unavailable" decline; the terminal may retry later under the same key.
"""

import logging
import random
import threading
import time
from dataclasses import asdict
from datetime import UTC, datetime

import httpx

from fleet_server.ledger.port import (
    APPROVED,
    DECLINED,
    CodeInfo,
    DebitRequest,
    Ledger,
    LedgerResult,
    LedgerUnavailable,
    VoidRequest,
)
from protocol.errors import is_known

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({502, 503, 504})
# Connection refused or reset, timeouts, a keep-alive connection the server closed meanwhile.
RETRY_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_MIN_ATTEMPT_S = 0.01  # less time than this left: no point in trying again
_MAX_TEXT = 64


class LedgerRefused(LedgerUnavailable):
    """The ledger refused the request itself (4xx, 500): retrying it as it is will not help.
    Still a LedgerUnavailable, so callers that only know the port see "nothing decided"."""

    def __init__(self, message: str, status_code: int):
        super().__init__(message)
        self.status_code = status_code


class HttpLedger(Ledger):
    """Debits and voids on a remote ledger.

    timeout_s: the overall deadline of one debit or void, retries and backoff included.
    retries: further attempts after the first (so up to retries + 1 requests).
    backoff_s: the first pause; each next one doubles, with jitter (half to all of it).
    attempt_timeout_s: the limit of one attempt (default: timeout_s); an attempt never runs
        past the overall deadline. Connecting gets at most connect_timeout_s of it.
    transport: an httpx transport (tests); default: httpx's own with a keep-alive pool.
    Thread-safe: one instance serves every request handler of the fleet server.
    """

    def __init__(self, base_url: str, token: str | None = None, timeout_s: float = 2.0,
                 retries: int = 3, backoff_s: float = 0.1,
                 transport: httpx.BaseTransport | None = None, *,
                 attempt_timeout_s: float | None = None, connect_timeout_s: float = 1.0,
                 max_connections: int = 20):
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"ledger URL must be http(s)://host[:port][/path], not {base_url!r}")
        if not timeout_s > 0 or retries < 0 or backoff_s < 0 or not connect_timeout_s > 0:
            raise ValueError("timeout_s and connect_timeout_s must be > 0, retries and "
                             "backoff_s >= 0")
        self.base_url = str(url).rstrip("/")
        self.timeout_s, self.retries, self.backoff_s = timeout_s, retries, backoff_s
        self.attempt_timeout_s = min(attempt_timeout_s or timeout_s, timeout_s)
        self.connect_timeout_s = connect_timeout_s
        headers = {"Accept": "application/json", "User-Agent": "fleet-server-ledger-client/1"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        # keepalive_expiry under the usual 5 s server keep-alive (uvicorn's default), so an
        # idle connection is dropped by us before the server closes it under a new request.
        self._client = httpx.Client(
            base_url=self.base_url, headers=headers, transport=transport,
            limits=httpx.Limits(max_connections=max_connections,
                                max_keepalive_connections=max_connections,
                                keepalive_expiry=4.0),
            follow_redirects=False, trust_env=False)
        self._random = random.Random()
        self._random_lock = threading.Lock()

    # The port.

    def debit(self, request: DebitRequest) -> LedgerResult:
        if not (isinstance(request.amount_cents, int) and not isinstance(request.amount_cents, bool)
                and request.amount_cents > 0):
            # The server refuses it (422) before any ledger sees it; the port's answer is a
            # decline, as the reference ledger gives.
            return LedgerResult(DECLINED, "amount_invalid")
        body = asdict(request)
        del body["idempotency_key"]
        body["requested_at"] = _iso(request.requested_at)
        return self._post("/v1/debits", request.idempotency_key, body)

    def void(self, request: VoidRequest) -> LedgerResult:
        body = {"partner_id": request.partner_id, "operation_id": request.operation_id,
                "requested_at": _iso(request.requested_at)}
        return self._post("/v1/voids", request.idempotency_key, body)

    def lookup(self, partner_id: str, token: str) -> CodeInfo:
        """One attempt within attempt_timeout_s: a terminal waits for this answer with the
        clerk, and falls back to typing the amount if it is late; nothing to retry for."""
        what = "ledger /v1/lookups"
        try:
            response = self._client.post(
                "/v1/lookups", json={"partner_id": partner_id, "token": token},
                timeout=self._timeout(self.attempt_timeout_s))
        except httpx.HTTPError as err:
            raise LedgerUnavailable(f"{what}: {type(err).__name__}: {err}") from err
        if response.status_code != 200:
            raise LedgerUnavailable(f"{what}: HTTP {response.status_code}{_detail(response)}")
        try:
            data = response.json()
            code, value, category = data["code"], data["value_cents"], data["category"]
        except (ValueError, TypeError, KeyError) as err:
            raise LedgerUnavailable(f"{what}: malformed answer {response.text[:120]!r}") from err
        if not (code is None or (isinstance(code, str) and is_known(code))) or not (
                _is_int(value) and value >= 0) or not (category is None or _is_text(category)):
            raise LedgerUnavailable(f"{what}: malformed answer {response.text[:120]!r}")
        return CodeInfo(code, value, category)

    def health(self) -> bool:
        """True when the ledger answers its health check within timeout_s (one attempt)."""
        try:
            response = self._client.get("/v1/health", timeout=self._timeout(self.timeout_s))
            return response.status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "HttpLedger":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    # The wire.

    def _post(self, path: str, key: str, body: dict) -> LedgerResult:
        if not (isinstance(key, str) and 0 < len(key) <= 128 and key.isascii()
                and key.isprintable() and key.strip() == key):
            raise ValueError("the idempotency key must be 1 to 128 printable ASCII characters")
        what = f"ledger {path} (key {key!r})"
        deadline = time.monotonic() + self.timeout_s
        attempt, problem = 0, "no attempt"
        while True:
            left = deadline - time.monotonic()
            if left < _MIN_ATTEMPT_S:
                break
            try:
                response = self._client.post(
                    path, json=body, headers={"Idempotency-Key": key},
                    timeout=self._timeout(min(self.attempt_timeout_s, left)))
            except RETRY_ERRORS as err:
                problem = f"{type(err).__name__}: {err or 'no detail'}"
            except httpx.HTTPError as err:  # not a network mishap: e.g. an invalid header
                raise LedgerUnavailable(f"{what}: {type(err).__name__}: {err}") from err
            else:
                if response.status_code not in RETRY_STATUSES:
                    return _answer(response, what)
                problem = f"HTTP {response.status_code}{_detail(response)}"
            attempt += 1
            if attempt > self.retries:
                break
            pause = self._pause(attempt)
            if deadline - time.monotonic() - pause < _MIN_ATTEMPT_S:
                break
            log.info("%s: %s; attempt %d in %.0f ms", what, problem, attempt + 1, pause * 1000)
            time.sleep(pause)
        raise LedgerUnavailable(
            f"{what}: no answer after {attempt} attempt(s) within {self.timeout_s:g} s "
            f"(last: {problem})")

    def _timeout(self, seconds: float) -> httpx.Timeout:
        # httpx applies read and write per socket operation: ample for bodies this small.
        return httpx.Timeout(seconds, connect=min(seconds, self.connect_timeout_s))

    def _pause(self, attempt: int) -> float:
        base = self.backoff_s * 2 ** (attempt - 1)
        with self._random_lock:
            return base * self._random.uniform(0.5, 1.0)


def _iso(value: datetime) -> str:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError("requested_at must be an aware datetime")
    return value.astimezone(UTC).isoformat()


def _detail(response: httpx.Response) -> str:
    try:
        data = response.json()
        detail = data.get("detail") if isinstance(data, dict) else None
    except ValueError:
        detail = None
    if not isinstance(detail, str) or not detail:
        detail = response.text
    detail = " ".join(detail.split())[:200]
    return f": {detail}" if detail else ""


def _answer(response: httpx.Response, what: str) -> LedgerResult:
    status = response.status_code
    if status == 409:
        raise LedgerRefused(f"{what}: the key was already used for a different request"
                            f"{_detail(response)}", status)
    if status != 200:
        raise LedgerRefused(f"{what}: HTTP {status}{_detail(response)}", status)
    try:
        data = response.json()
    except ValueError as err:
        raise LedgerUnavailable(f"{what}: malformed answer, not JSON: "
                                f"{response.text[:80]!r}") from err
    problem = _check_result(data)
    if problem:
        raise LedgerUnavailable(f"{what}: malformed answer ({problem}): "
                                f"{response.text[:200]!r}")
    return LedgerResult(status=data["status"], code=data["code"],
                        amount_cents=data["amount_cents"], balance_cents=data["balance_cents"],
                        operation_id=data["operation_id"], auth_code=data["auth_code"])


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_text(value) -> bool:
    return isinstance(value, str) and 0 < len(value) <= _MAX_TEXT


def _check_result(data) -> str | None:
    """What is wrong with a result body, or None. Extra fields are ignored."""
    if not isinstance(data, dict):
        return "not a JSON object"
    missing = [k for k in ("status", "code", "amount_cents", "balance_cents", "operation_id",
                           "auth_code") if k not in data]
    if missing:
        return "missing " + ", ".join(missing)
    status, code = data["status"], data["code"]
    if status not in (APPROVED, DECLINED):
        return f"status {status!r}"
    if code is not None and not (isinstance(code, str) and is_known(code)):
        return f"unknown code {code!r}"
    if status == DECLINED and code is None:
        return "a decline without a code"
    if not (_is_int(data["amount_cents"]) and data["amount_cents"] >= 0):
        return "amount_cents is not a non-negative integer"
    if data["balance_cents"] is not None and not _is_int(data["balance_cents"]):
        return "balance_cents is not an integer"
    for name in ("operation_id", "auth_code"):
        if data[name] is not None and not _is_text(data[name]):
            return f"{name} is not a short string"
    if status == APPROVED and not (data["operation_id"] and data["auth_code"]):
        return "an approval without operation_id and auth_code"
    return None
