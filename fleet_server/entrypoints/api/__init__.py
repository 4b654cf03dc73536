"""The REST API under /api/v1 (OpenAPI at /openapi.json, pages at /docs), Bearer tokens.

Errors are 4xx with a `detail`, never a 500 for bad input: the domain's and the ledger's
exceptions are translated here once, so routes raise what the services raise.
"""

from fastapi import APIRouter, FastAPI, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError

from fleet_server.domain.devices import DeviceStateError
from fleet_server.ledger.port import LedgerUnavailable
from fleet_server.ledger.views import NotFound as LedgerNotFound
from fleet_server.ledger.views import UnknownCategory
from fleet_server.service_layer import registry

PREFIX = "/api/v1"


def _error(code: int, detail: str):
    async def handler(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": detail or str(exc)}, status_code=code)

    return handler


def include_routers(app: FastAPI) -> None:
    from fleet_server.entrypoints.api import (
        beneficiaries,
        categories,
        devices,
        lifecycle,
        partners,
        settlements,
        tokens,
        transactions,
        vouchers,
    )

    api = APIRouter(prefix=PREFIX)
    # lifecycle first: its /devices/{id}/rekey must win over devices' /devices/{id}/{action}.
    for module in (lifecycle, devices, partners, beneficiaries, categories, vouchers,
                   transactions, settlements, tokens):
        api.include_router(module.router)
    from fleet_server.entrypoints.api import support  # the support desk, /api/v1/support

    api.include_router(support.router)
    from fleet_server.entrypoints.api import releases  # firmware releases and campaigns

    api.include_router(releases.router)
    app.include_router(api)

    # "" : the exception's own message, which names what is missing or wrong.
    app.add_exception_handler(registry.NotFound, _error(status.HTTP_404_NOT_FOUND, ""))
    app.add_exception_handler(LedgerNotFound, _error(status.HTTP_404_NOT_FOUND, ""))
    app.add_exception_handler(DeviceStateError, _error(status.HTTP_409_CONFLICT, ""))
    app.add_exception_handler(UnknownCategory, _error(status.HTTP_422_UNPROCESSABLE_CONTENT, ""))
    app.add_exception_handler(LedgerUnavailable, _error(
        status.HTTP_503_SERVICE_UNAVAILABLE, "the ledger is unavailable; try again"))
    # The database's own checks, as a last line: a duplicate code or name, or a reference to
    # a program or card that does not exist (foreign keys); a value out of the column's range.
    app.add_exception_handler(IntegrityError, _error(
        status.HTTP_409_CONFLICT, "conflicts with existing data: a duplicate, or a reference "
                                  "to something that does not exist"))
    app.add_exception_handler(DataError, _error(
        status.HTTP_422_UNPROCESSABLE_CONTENT, "a value the database cannot store"))
