"""Any Ledger served over JSON/HTTP: the contract the HTTP client (http_client.py) speaks.

    POST /v1/debits   Idempotency-Key: <key>   {"partner_id", "token", "amount_cents",
                                                "category", "requested_at", "device_id"}
    POST /v1/voids    Idempotency-Key: <key>   {"partner_id", "operation_id", "requested_at"}
    POST /v1/lookups  (read-only, no key)      {"partner_id", "token"}
         -> {"code": str|null, "value_cents": int, "category": str|null}: a voucher or
            coupon's value and the decline a debit of it would get now (null: usable)
    GET  /v1/health   (no token needed)        {"status": "ok"}

A debit or void answers 200 with the result, approved or declined alike:
    {"status": "approved"|"declined", "code": str|null, "amount_cents": int,
     "balance_cents": int|null, "operation_id": str|null, "auth_code": str|null}
Every other answer is {"error": <short code>, "detail": <message>} (422 adds "errors", one per
field): 400 missing or bad Idempotency-Key; 401 missing or wrong Bearer token (when the app has
one); 409 the key was already used for a different request; 413 body over 64 KiB; 422 invalid
body; 503 the ledger is unavailable (nothing was decided: retry with the same key); 500 the
ledger failed (a bug: the ledger's answer is unknown).

Idempotency: the key goes through to the ledger, which keeps the answer per (partner, key).
A key reused for a different request (other partner's keys aside) must get 409: this app
detects it for the keys it has seen recently (a bounded in-memory table, lost on restart), so
a durable check is the ledger's duty. `requested_at` is not part of what makes two requests the
same: a retry may carry a newer one.
"""

import hmac
import logging
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException

from fleet_server.ledger.port import (
    DebitRequest,
    Ledger,
    LedgerResult,
    LedgerUnavailable,
    VoidRequest,
)

log = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_KEY = 128  # the reference ledger's column
MAX_BODY = 64 * 1024
MAX_CENTS = 2**31 - 1  # an INTEGER column everywhere
HEALTH_PATH = "/v1/health"
_OPEN_PATHS = {HEALTH_PATH, "/v1/openapi.json"}


def _text(max_length: int):
    return Annotated[str, StringConstraints(strict=True, min_length=1, max_length=max_length)]


def _iso_text(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time string with a time zone")
    return value


# Strict types: no "100" for 100, no 1.0 or true for 1, no number for a date-time.
Cents = Annotated[int, Field(strict=True, ge=0, le=MAX_CENTS)]
UtcTime = Annotated[AwareDatetime, BeforeValidator(_iso_text)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not a default


class DebitIn(_Strict):
    partner_id: _text(40)
    token: _text(32)
    amount_cents: Annotated[int, Field(strict=True, gt=0, le=MAX_CENTS)]
    category: _text(32) | None = None
    requested_at: UtcTime
    device_id: _text(64) | None = None


class VoidIn(_Strict):
    partner_id: _text(40)
    operation_id: _text(64)
    requested_at: UtcTime


class LookupIn(_Strict):
    partner_id: _text(40)
    token: _text(64)


class LookupOut(_Strict):
    code: _text(64) | None
    value_cents: Cents
    category: _text(32) | None


class ResultOut(_Strict):
    status: Literal["approved", "declined"]  # port.APPROVED, port.DECLINED
    code: _text(64) | None
    amount_cents: Cents
    balance_cents: Annotated[int, Field(strict=True)] | None
    operation_id: _text(64) | None
    auth_code: _text(64) | None


class ApiError(Exception):
    def __init__(self, status_code: int, error: str, detail: str,
                 headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status_code, self.error, self.detail, self.headers = (status_code, error, detail,
                                                                   headers)

    def response(self) -> JSONResponse:
        return error_response(self.status_code, self.error, self.detail, self.headers)


def error_response(status_code: int, error: str, detail: str,
                   headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail, **extra}, status_code=status_code,
                        headers=headers)


class _RecentKeys:
    """(partner, key) -> what the request was, for the last `capacity` keys: enough to refuse a
    key reused for another request while it is still likely to be retried."""

    def __init__(self, capacity: int = 100_000):
        self._seen: OrderedDict[tuple[str, str], tuple] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def claim(self, scope: tuple[str, str], fingerprint: tuple) -> bool:
        """False when the key is known with another fingerprint."""
        with self._lock:
            known = self._seen.get(scope)
            if known is not None:
                self._seen.move_to_end(scope)
                return known == fingerprint
            self._seen[scope] = fingerprint
            if len(self._seen) > self._capacity:
                self._seen.popitem(last=False)
            return True

    def release(self, scope: tuple[str, str], fingerprint: tuple) -> None:
        """Nothing was decided under this key: it is free again."""
        with self._lock:
            if self._seen.get(scope) == fingerprint:
                del self._seen[scope]


class _Guard:
    """Pure ASGI: body size, then the Bearer token, before anything reads the body (so an
    unauthenticated caller learns nothing from validation errors)."""

    def __init__(self, app, token: str | None):
        self.app = app
        self._token = token.encode() if token else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        refusal = None
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            refusal = ApiError(413, "too_large", f"request body over {MAX_BODY} bytes")
        elif self._token is not None and scope["path"] not in _OPEN_PATHS:
            refusal = self._check(headers.get("authorization"))
        if refusal is not None:
            return await refusal.response()(scope, receive, send)
        return await self.app(scope, receive, send)

    def _check(self, authorization: str | None) -> ApiError | None:
        scheme, _, credentials = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            return ApiError(401, "unauthorized", "a Bearer token is required",
                            {"WWW-Authenticate": 'Bearer realm="ledger"'})
        if not hmac.compare_digest(credentials.strip().encode(), self._token):
            return ApiError(401, "unauthorized", "the Bearer token is not valid",
                            {"WWW-Authenticate": 'Bearer realm="ledger", error="invalid_token"'})
        return None


def _idempotency_key(value: str | None) -> str:
    if value is None:
        raise ApiError(400, "missing_idempotency_key",
                       f"the {IDEMPOTENCY_HEADER} header is required")
    if not (0 < len(value) <= MAX_KEY and value.isascii() and value.isprintable()
            and value.strip() == value):
        raise ApiError(400, "bad_idempotency_key",
                       f"{IDEMPOTENCY_HEADER} must be 1 to {MAX_KEY} printable ASCII characters "
                       "without surrounding spaces")
    return value


def _field_errors(exc: RequestValidationError) -> list[dict]:
    out = []
    for err in exc.errors():
        kind, message = err.get("type", ""), err.get("msg", "invalid")
        if kind == "json_invalid":  # its loc is ("body", <character position>)
            loc = ["body"]
            message = f"{message} at character {err.get('loc', ('', '?'))[-1]}"
        else:
            loc = [str(p) for p in err.get("loc", ()) if p != "body"] or ["body"]
        out.append({"field": ".".join(loc), "message": message, "type": kind})
    return out


def create_ledger_app(ledger: Ledger, token: str | None) -> FastAPI:
    """The JSON/HTTP face of `ledger` (any Ledger). With `token`, every path but the health
    check needs `Authorization: Bearer <token>`."""
    app = FastAPI(title="Ledger", version="1", docs_url=None, redoc_url=None,
                  openapi_url="/v1/openapi.json")
    recent = _RecentKeys()

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
        return error_response(422, "invalid_request", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, "http_error", str(exc.detail),
                              getattr(exc, "headers", None))

    def call(kind: str, work, request, fingerprint: tuple) -> JSONResponse:
        scope = (request.partner_id, request.idempotency_key)
        if not recent.claim(scope, (kind, *fingerprint)):
            raise ApiError(409, "idempotency_key_reused",
                           f"{IDEMPOTENCY_HEADER} {request.idempotency_key!r} was already used "
                           "for a different request")
        try:
            result = work(request)
        except LedgerUnavailable as err:
            recent.release(scope, (kind, *fingerprint))
            log.warning("ledger unavailable for %s %r: %s", kind, request.idempotency_key, err)
            raise ApiError(503, "ledger_unavailable",
                           f"the ledger is unavailable, nothing was decided: {err}") from err
        except Exception as err:  # the ledger's own failure: answer, never crash
            log.exception("ledger failed on %s %r", kind, request.idempotency_key)
            raise ApiError(500, "ledger_error",
                           f"the ledger failed: {type(err).__name__}") from err
        if not isinstance(result, LedgerResult):
            log.error("ledger returned %r for %s", type(result).__name__, kind)
            raise ApiError(500, "ledger_error", "the ledger returned no result")
        try:
            out = ResultOut(status=result.status, code=result.code,
                            amount_cents=result.amount_cents, balance_cents=result.balance_cents,
                            operation_id=result.operation_id, auth_code=result.auth_code)
        except ValueError as err:
            log.error("ledger returned an invalid result for %s: %s", kind, err)
            raise ApiError(500, "ledger_error", "the ledger returned an invalid result") from err
        return JSONResponse(out.model_dump())

    # Plain `def` routes: the ledger blocks (database, network), so they run in the threadpool.

    @app.post("/v1/debits")
    def debit(body: DebitIn, idempotency_key: Annotated[
            str | None, Header(alias=IDEMPOTENCY_HEADER)] = None) -> JSONResponse:
        request = DebitRequest(
            idempotency_key=_idempotency_key(idempotency_key), partner_id=body.partner_id,
            token=body.token, amount_cents=body.amount_cents, category=body.category,
            requested_at=body.requested_at.astimezone(UTC), device_id=body.device_id)
        return call("debit", ledger.debit, request,
                    (body.token, body.amount_cents, body.category, body.device_id))

    @app.post("/v1/voids")
    def void(body: VoidIn, idempotency_key: Annotated[
            str | None, Header(alias=IDEMPOTENCY_HEADER)] = None) -> JSONResponse:
        request = VoidRequest(
            idempotency_key=_idempotency_key(idempotency_key), partner_id=body.partner_id,
            operation_id=body.operation_id, requested_at=body.requested_at.astimezone(UTC))
        return call("void", ledger.void, request, (body.operation_id,))

    @app.post("/v1/lookups")
    def lookup(body: LookupIn) -> JSONResponse:
        try:
            info = ledger.lookup(body.partner_id, body.token)
            out = LookupOut(code=info.code, value_cents=info.value_cents,
                            category=info.category)
        except LedgerUnavailable as err:
            raise ApiError(503, "ledger_unavailable", f"the ledger is unavailable: {err}") from err
        except Exception as err:  # the ledger's own failure, or an invalid answer of it
            log.exception("ledger failed on a lookup")
            raise ApiError(500, "ledger_error", f"the ledger failed: {type(err).__name__}") from err
        return JSONResponse(out.model_dump())

    @app.get(HEALTH_PATH)
    def health() -> dict:
        return {"status": "ok"}

    app.add_middleware(_Guard, token=token)
    return app


def serve_reference_ledger(db_url: str, host: str, port: int, token: str | None) -> None:
    """Serve the reference ledger on `db_url` until interrupted (`fleet ledger-serve`).

    Its tables are created if missing: by the migrations on a new or migrated database (so a
    later `fleet db-upgrade` on the same database finds them versioned), else, on a database
    whose ledger tables were made without migrations, by create_all for the missing ones.
    """
    import uvicorn
    from sqlalchemy import inspect

    from fleet_server.adapters.db import Base, make_engine, make_session_factory
    from fleet_server.reference_ledger.categories import add_defaults
    from fleet_server.reference_ledger.reference import ReferenceLedger
    from fleet_server.reference_ledger.tables import LEDGER_TABLES

    engine = make_engine(db_url)
    try:
        existing = set(inspect(engine).get_table_names())
        if "alembic_version" in existing or not existing & {t.name for t in LEDGER_TABLES}:
            from fleet_server.adapters.migrations import upgrade

            upgrade(engine)
        else:
            Base.metadata.create_all(engine, tables=LEDGER_TABLES)
            with make_session_factory(engine)() as session, session.begin():
                add_defaults(session, datetime.now(UTC))
        if not token and host not in ("127.0.0.1", "localhost", "::1"):
            log.warning("serving the ledger on %s without a token: anyone who can reach it "
                        "can move money", host)
        app = create_ledger_app(ReferenceLedger(make_session_factory(engine)), token)
        print(f"reference ledger on http://{host}:{port}  database {engine.url!r}", flush=True)
        uvicorn.run(app, host=host, port=port, log_level="info")
    finally:
        engine.dispose()
