"""The services behind the pages, built from the running Fleet (FastAPI dependencies)."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

from fleet_server.adapters.sql_partner_data import SqlPartnerDataStore
from fleet_server.entrypoints.web.deps import PageError
from fleet_server.ledger.reference import ReferenceLedger
from fleet_server.service_layer.partner_console import PartnerConsole


def utcnow() -> datetime:
    return datetime.now(UTC)


def reference_ledger(request: Request) -> ReferenceLedger:
    ledger = request.app.state.fleet.ledger
    if not isinstance(ledger, ReferenceLedger):
        # Lists, references and batches live in the ledger; an external one has its own console.
        raise PageError(501, "Le registre des opérations est externe : consultez-le dans sa "
                             "propre console.")
    return ledger


def partner_data(request: Request) -> SqlPartnerDataStore:
    return SqlPartnerDataStore(request.app.state.fleet.session_factory)


def publish_config(fleet):
    """Send a terminal its retained configuration through the server's broker connection."""

    def publish(device_id: str) -> None:
        from fleet_server.bootstrap_lifecycle import publish_now

        config = getattr(fleet.dispatcher, "config", None)
        if config is not None:
            publish_now(fleet, config.messages_for(device_id))

    return publish


def partner_console(request: Request) -> PartnerConsole:
    fleet = request.app.state.fleet
    return PartnerConsole(reference_ledger(request), fleet.session_factory, fleet.uow,
                          partner_data(request), utcnow, fleet.keys, publish_config(fleet),
                          getattr(getattr(fleet.dispatcher, "status", None), "connection", None),
                          getattr(fleet.extras.get("support"), "interventions", None))


ConsoleDep = Annotated[PartnerConsole, Depends(partner_console)]
DataDep = Annotated[SqlPartnerDataStore, Depends(partner_data)]
LedgerAdminDep = Annotated[ReferenceLedger, Depends(reference_ledger)]


def operator_console(request: Request):
    from fleet_server.service_layer.operator_console import OperatorConsole

    fleet = request.app.state.fleet
    from fleet_server.bootstrap_lifecycle import broker_access, publish_now

    return OperatorConsole(reference_ledger(request), fleet.session_factory, fleet.uow, utcnow,
                           broker_access(fleet), lambda messages: publish_now(fleet, messages))


OperatorDep = Annotated[object, Depends(operator_console)]
