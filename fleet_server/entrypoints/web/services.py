"""The services behind the pages, built by bootstrap() (FastAPI dependencies)."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

from fleet_server.adapters.sql_partner_data import SqlPartnerDataStore
from fleet_server.entrypoints.web.deps import PageError
from fleet_server.ledger.admin_port import LedgerAdministration
from fleet_server.service_layer.operator_console import OperatorConsole
from fleet_server.service_layer.partner_console import PartnerConsole


def utcnow() -> datetime:
    return datetime.now(UTC)


def _external_ledger() -> PageError:
    # Lists, references and batches live in the ledger; an external one has its own console.
    return PageError(501, "Le registre des opérations est externe : consultez-le dans sa "
                          "propre console.")


def reference_ledger(request: Request) -> LedgerAdministration:
    admin = request.app.state.fleet.ledger_admin
    if admin is None:
        raise _external_ledger()
    return admin


def partner_data(request: Request) -> SqlPartnerDataStore:
    return SqlPartnerDataStore(request.app.state.fleet.session_factory)


def partner_console(request: Request) -> PartnerConsole:
    console = request.app.state.fleet.partner_console
    if console is None:
        raise _external_ledger()
    return console


ConsoleDep = Annotated[PartnerConsole, Depends(partner_console)]
DataDep = Annotated[SqlPartnerDataStore, Depends(partner_data)]
LedgerAdminDep = Annotated[LedgerAdministration, Depends(reference_ledger)]


def operator_console(request: Request) -> OperatorConsole:
    console = request.app.state.fleet.operator_console
    if console is None:
        raise _external_ledger()
    return console


OperatorDep = Annotated[OperatorConsole, Depends(operator_console)]
