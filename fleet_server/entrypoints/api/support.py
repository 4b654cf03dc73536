"""The support desk over REST, /api/v1/support/...: roles support and operator only.

A support agent sees terminals, their health, and whom to call (partner contact data); never
the partners' money (operations, balances, settlements are other routers, closed to it)."""

from dataclasses import asdict
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import Field, StrictInt, StringConstraints

from fleet_server.domain.support import (
    CATEGORIES,
    CONNECTION_STATES,
    DESK_COMMANDS,
    STATUSES,
    SupportError,
)
from fleet_server.domain.support_alerts import KINDS
from fleet_server.entrypoints.api.deps import (
    OPERATOR,
    SUPPORT,
    FleetDep,
    Limit,
    Offset,
    Principal,
    StrictModel,
    id_path,
    page_of,
    require,
)
from fleet_server.entrypoints.support_texts import (
    INTERVENTION_CATEGORIES,
    INTERVENTION_STATUSES,
    alert_words,
    audit_result,
    terminal_words,
    timeline_text,
)
from fleet_server.service_layer.support import SupportDesk
from fleet_server.service_layer.support_commands import UnknownTerminal

router = APIRouter(prefix="/support", tags=["support desk"])
DeskAgent = Annotated[Principal, require(SUPPORT, OPERATOR)]
DevicePath = Annotated[str, id_path(24)]
RowId = Annotated[int, Path(ge=1, le=2_147_483_647)]
_TEXT = r"^[^\x00-\x08\x0b-\x1f\x7f]*$"  # newlines and tabs allowed in notes
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500,
                                          pattern=_TEXT)]
NoteText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                            max_length=2000, pattern=_TEXT)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=200,
                                         pattern=_TEXT)]
Search = Annotated[str | None, Query(max_length=80)]
ShortId = Annotated[str | None, Query(max_length=40, pattern=r"^[A-Za-z0-9_.:-]+$")]


def desk(fleet: FleetDep) -> SupportDesk:
    return fleet.support


DeskDep = Annotated[SupportDesk, Depends(desk)]


def _refused(err: Exception) -> HTTPException:
    if isinstance(err, (UnknownTerminal, LookupError)):
        return HTTPException(status.HTTP_404_NOT_FOUND, str(err))
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(err))


class CommandIn(StrictModel):
    name: Literal[DESK_COMMANDS]  # type: ignore[valid-type]
    reason: Reason
    args: dict[str, StrictInt] | None = Field(None, max_length=8)
    timeout_s: int | None = Field(None, ge=5, le=600)
    queue_ttl_s: int | None = Field(None, ge=60, le=7 * 86400)
    intervention_id: int | None = Field(None, ge=1)


class InterventionIn(StrictModel):
    category: Literal[tuple(CATEGORIES)]  # type: ignore[valid-type]
    title: Title
    note: NoteText | None = None


class InterventionChange(StrictModel):
    status: Literal[tuple(STATUSES)] | None = None  # type: ignore[valid-type]
    category: Literal[tuple(CATEGORIES)] | None = None  # type: ignore[valid-type]


class NoteIn(StrictModel):
    text: NoteText


def command_view(command) -> dict:
    return asdict(command)


def intervention_view(desk: SupportDesk, item, with_commands: bool = True) -> dict:
    out = asdict(item)
    out["category_label"] = INTERVENTION_CATEGORIES[item.category]
    out["status_label"] = INTERVENTION_STATUSES[item.status]
    if with_commands:
        out["commands"] = [command_view(c) for c in desk.store.commands(
            intervention_id=item.intervention_id)]
    return out


@router.get("/terminals", summary="Find terminals: search and filters")
def list_terminals(who: DeskAgent, d: DeskDep, q: Search = None, partner_id: ShortId = None,
                   connection: Literal[CONNECTION_STATES] | None = None,  # type: ignore
                   firmware: Annotated[str | None, Query(max_length=24)] = None,
                   alert: Literal[tuple(KINDS) + ("any",)] | None = None,  # type: ignore
                   limit: Limit = 100, offset: Offset = 0) -> dict:
    rows = d.fleet(q, partner_id, connection, firmware, alert, limit, offset)
    return page_of(rows, limit, offset)


@router.get("/terminals/{device_id}", summary="One terminal: status, partner contact, alerts")
def get_terminal(device_id: DevicePath, who: DeskAgent, d: DeskDep) -> dict:
    try:
        return terminal_words(d.terminal(device_id))
    except LookupError as err:
        raise _refused(err) from err


@router.get("/terminals/{device_id}/timeline", summary="Status changes, errors, commands...")
def timeline(device_id: DevicePath, who: DeskAgent, d: DeskDep, limit: Limit = 100,
             before_id: Annotated[int | None, Query(ge=1)] = None) -> dict:
    events = d.store.timeline(device_id, limit, before_id)
    return {"items": [{"device_id": e.device_id, "at": e.at, "kind": e.kind, "code": e.code,
                       "details": e.details, "summary": timeline_text(e),
                       "event_id": e.event_id} for e in events],
            "next_before_id": events[-1].event_id if len(events) == limit else None}


@router.get("/terminals/{device_id}/samples", summary="Signal strength and free memory")
def samples(device_id: DevicePath, who: DeskAgent, d: DeskDep,
            hours: Annotated[int, Query(ge=1, le=24 * 14)] = 24) -> dict:
    since = d.clock() - timedelta(hours=hours)
    return {"items": [{"at": at, "rssi": rssi, "heap": heap}
                      for at, rssi, heap in d.store.samples(device_id, since)]}


@router.post("/terminals/{device_id}/commands", status_code=status.HTTP_202_ACCEPTED,
             summary="Run a remote command (sent now, or queued until the terminal returns)")
def run_command(device_id: DevicePath, body: CommandIn, who: DeskAgent, d: DeskDep) -> dict:
    try:
        command = d.commands.request(who.name, who.role, device_id, body.name, body.args,
                                     body.reason, body.timeout_s, body.queue_ttl_s,
                                     body.intervention_id)
    except (SupportError, LookupError) as err:
        raise _refused(err) from err
    return command_view(command)


@router.get("/terminals/{device_id}/commands", summary="Commands sent to a terminal")
def list_commands(device_id: DevicePath, who: DeskAgent, d: DeskDep, limit: Limit = 50) -> dict:
    return {"items": [command_view(c) for c in d.store.commands(device_id, limit=limit)]}


@router.get("/commands/{command_id}", summary="One command and its result")
def get_command(command_id: Annotated[str, id_path(32)], who: DeskAgent, d: DeskDep) -> dict:
    command = d.store.command(command_id)
    if command is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown command")
    return command_view(command)


@router.post("/terminals/{device_id}/interventions", status_code=status.HTTP_201_CREATED,
             summary="Open an intervention on a terminal")
def open_intervention(device_id: DevicePath, body: InterventionIn, who: DeskAgent,
                      d: DeskDep) -> dict:
    try:
        item = d.interventions.open(who.name, who.role, device_id, body.category, body.title,
                                    body.note)
    except (SupportError, LookupError) as err:
        raise _refused(err) from err
    return intervention_view(d, item)


@router.get("/interventions", summary="Interventions, newest first")
def list_interventions(who: DeskAgent, d: DeskDep, device_id: ShortId = None,
                       partner_id: ShortId = None,
                       status_: Annotated[Literal[tuple(STATUSES)] | None,  # type: ignore
                                          Query(alias="status")] = None,
                       category: Literal[tuple(CATEGORIES)] | None = None,  # type: ignore
                       limit: Limit = 100) -> dict:
    items = d.store.interventions(device_id, status_, category, partner_id, limit)
    return {"items": [intervention_view(d, i, with_commands=False) for i in items]}


def _intervention(d: SupportDesk, intervention_id: int):
    item = d.store.intervention(intervention_id)
    if item is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown intervention")
    return item


@router.get("/interventions/{intervention_id}", summary="One intervention, notes, commands")
def get_intervention(intervention_id: RowId, who: DeskAgent, d: DeskDep) -> dict:
    return intervention_view(d, _intervention(d, intervention_id))


@router.patch("/interventions/{intervention_id}", summary="Change status or category")
def change_intervention(intervention_id: RowId, body: InterventionChange, who: DeskAgent,
                        d: DeskDep) -> dict:
    _intervention(d, intervention_id)
    try:
        item = d.interventions.move(who.name, who.role, intervention_id, body.status,
                                    body.category)
    except SupportError as err:
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from err
    return intervention_view(d, d.store.intervention(item.intervention_id))


@router.post("/interventions/{intervention_id}/notes", status_code=status.HTTP_201_CREATED,
             summary="Add a note")
def add_note(intervention_id: RowId, body: NoteIn, who: DeskAgent, d: DeskDep) -> dict:
    _intervention(d, intervention_id)
    try:
        item = d.interventions.add_note(who.name, who.role, intervention_id, body.text)
    except SupportError as err:
        raise _refused(err) from err
    return intervention_view(d, item)


@router.get("/alerts", summary="Health alerts with the partner and a phone-ready summary")
def list_alerts(who: DeskAgent, d: DeskDep,
                kind: Literal[tuple(KINDS)] | None = None,  # type: ignore[valid-type]
                partner_id: ShortId = None, device_id: ShortId = None,
                active: bool | None = True, limit: Limit = 200) -> dict:
    return {"items": [alert_words(a)
                      for a in d.alert_list(active, kind, partner_id, device_id, limit)]}


@router.post("/alerts/{alert_id}/intervention", status_code=status.HTTP_201_CREATED,
             summary="Open (or find) the intervention for an alert")
def intervention_from_alert(alert_id: RowId, who: DeskAgent, d: DeskDep) -> dict:
    alert = d.store.alert(alert_id)
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown alert")
    return intervention_view(d, d.interventions.from_alert(alert, who.name, who.role))


@router.get("/audit", summary="Who did what, when, why, and the result")
def audit(who: DeskAgent, d: DeskDep, device_id: ShortId = None,
          actor: Annotated[str | None, Query(max_length=120)] = None,
          limit: Limit = 100) -> dict:
    return {"items": [{**asdict(e), "result": audit_result(e.action, e.result)}
                      for e in d.store.audit_log(device_id, actor, limit)]}
