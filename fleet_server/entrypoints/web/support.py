"""Support desk pages (French): the fleet with search and filters, one terminal (status, chart,
timeline, remote commands that ask for a reason, interventions), alerts, one intervention.

Roles support and operator. A support agent sees terminals and whom to call, never money:
nothing here reads the ledger. Actions go through the same services as the REST API and the
CLI, with the logged-in account's e-mail as the actor of the audit trail.
"""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request

from fleet_server.domain.support import (
    CATEGORIES,
    CONNECTION_STATES,
    STATUSES,
    SupportError,
)
from fleet_server.domain.support_alerts import KINDS
from fleet_server.entrypoints.support_texts import (
    ALERT_KINDS,
    INTERVENTION_CATEGORIES,
    INTERVENTION_STATUSES,
    alert_words,
    terminal_words,
)
from fleet_server.entrypoints.web.deps import (
    OPERATOR,
    SUPPORT,
    FleetDep,
    PageError,
    WebUser,
    redirect,
    render,
    require_user,
)
from fleet_server.entrypoints.web.labels import CHECKS, COMMANDS, support_error
from fleet_server.entrypoints.web.layout import add_nav
from fleet_server.entrypoints.web.support_chart import line_chart
from fleet_server.service_layer.support import SupportDesk

router = APIRouter(include_in_schema=False)
Agent = Annotated[WebUser, require_user(SUPPORT, OPERATOR)]
Reason = Annotated[str, Form(max_length=500)]
Text = Annotated[str, Form(max_length=2000)]
CONNECTION_LABELS = {"online": "En ligne", "unresponsive": "Muet", "offline": "Hors ligne",
                     "unknown": "Inconnu"}
COMMAND_LABELS = COMMANDS
STATE_LABELS = {"queued": "En attente du terminal", "sent": "Envoyée, en attente de réponse",
                "succeeded": "Réussie", "failed": "Refusée", "timed_out": "Sans réponse",
                "expired": "Expirée"}
CHECK_LABELS = CHECKS

for role in (SUPPORT, OPERATOR):
    add_nav(role, "Parc de terminaux", "/support", first=role == SUPPORT)
    add_nav(role, "Alertes", "/support/alertes")
    add_nav(role, "Interventions", "/support/interventions")

LABELS = {"connections": CONNECTION_LABELS, "commands": COMMAND_LABELS,
          "states": STATE_LABELS, "checks": CHECK_LABELS, "categories": INTERVENTION_CATEGORIES,
          "statuses": INTERVENTION_STATUSES, "kinds": ALERT_KINDS}


def desk_of(fleet) -> SupportDesk:
    return fleet.support


def _param(request: Request, name: str, allowed=None, size: int = 80) -> str | None:
    value = (request.query_params.get(name) or "").strip()[:size]
    if not value or (allowed is not None and value not in allowed):
        return None
    return value


def _terminal_or_404(desk: SupportDesk, device_id: str) -> dict:
    if len(device_id) > 24:
        raise PageError(404, "Terminal introuvable.")
    try:
        return terminal_words(desk.terminal(device_id))
    except LookupError:
        raise PageError(404, "Terminal introuvable.") from None


@router.get("/support")
def fleet_page(request: Request, user: Agent, fleet: FleetDep):
    desk = desk_of(fleet)
    filters = {"q": _param(request, "q"), "partner": _param(request, "partner", size=40),
               "connection": _param(request, "connection", CONNECTION_STATES),
               "firmware": _param(request, "firmware", size=24),
               "alert": _param(request, "alert", tuple(KINDS) + ("any",))}
    rows = desk.fleet(filters["q"], filters["partner"], filters["connection"],
                      filters["firmware"], filters["alert"], limit=500)[:500]
    everything = desk.fleet(limit=10_000)
    partners = sorted({(r["partner"]["partner_id"], r["partner"]["name"]) for r in everything
                       if r["partner"]["partner_id"]}, key=lambda p: (p[1] or "", p[0]))
    firmwares = sorted({r["firmware"] for r in everything if r["firmware"]})
    return render(request, "support/fleet.html", user, rows=rows, filters=filters,
                  partners=partners, firmwares=firmwares, L=LABELS)


def _terminal_context(desk: SupportDesk, device_id: str) -> dict:
    terminal = _terminal_or_404(desk, device_id)
    commands = desk.store.commands(device_id, limit=20)
    return {"t": terminal, "commands": commands, "L": LABELS,
            "pending": any(not c.finished for c in commands)}


@router.get("/support/terminaux/{device_id}")
def terminal_page(request: Request, device_id: str, user: Agent, fleet: FleetDep):
    desk = desk_of(fleet)
    context = _terminal_context(desk, device_id)
    samples = desk.store.samples(device_id, desk.clock() - timedelta(hours=24))
    context.update(
        rssi_chart=line_chart([(at, rssi) for at, rssi, _ in samples],
                              "Force du signal", "dBm", "#1f6fb2", "chart-rssi"),
        heap_chart=line_chart([(at, heap / 1024 if heap is not None else None)
                               for at, _, heap in samples],
                              "Mémoire libre", "Kio", "#2e7d32", "chart-heap"),
        timeline=desk.store.timeline(device_id, limit=60),
        interventions=desk.store.interventions(device_id=device_id, limit=20))
    return render(request, "support/terminal.html", user, **context)


@router.get("/support/terminaux/{device_id}/direct")
def terminal_live(request: Request, device_id: str, user: Agent, fleet: FleetDep):
    """The parts of the terminal page that change by themselves (htmx polls this)."""
    return render(request, "support/_live.html", user,
                  **_terminal_context(desk_of(fleet), device_id))


@router.post("/support/terminaux/{device_id}/commandes")
def run_command(request: Request, device_id: str, user: Agent, fleet: FleetDep,
                name: Annotated[str, Form(max_length=16)], reason: Reason,
                lines: Annotated[int | None, Form(ge=1, le=200)] = None,
                intervention_id: Annotated[int | None, Form(ge=1, le=2**31 - 1)] = None):
    desk = desk_of(fleet)
    _terminal_or_404(desk, device_id)
    if name not in ("diagnostics", "restart", "get_logs", "ping"):
        raise PageError(422, "Commande inconnue.")
    args = {"lines": lines or 50} if name == "get_logs" else None
    back = f"/support/terminaux/{device_id}"
    try:
        command = desk.commands.request(user.email, user.role, device_id, name, args, reason,
                                        intervention_id=intervention_id)
    except SupportError as err:
        return redirect(back, f"Commande refusée : {_french(err)}")
    if command.state == "queued":
        return redirect(back, f"{COMMAND_LABELS[name]} mis en attente : le terminal est hors "
                              "ligne, il le recevra à son retour.")
    return redirect(back, f"{COMMAND_LABELS[name]} envoyé au terminal.")


def _french(err: Exception) -> str:
    return support_error(str(err))


@router.post("/support/terminaux/{device_id}/interventions")
def open_intervention(request: Request, device_id: str, user: Agent, fleet: FleetDep,
                      category: Annotated[str, Form(max_length=24)],
                      title: Annotated[str, Form(max_length=200)],
                      note: Annotated[str | None, Form(max_length=2000)] = None):
    desk = desk_of(fleet)
    _terminal_or_404(desk, device_id)
    try:
        item = desk.interventions.open(user.email, user.role, device_id, category, title,
                                       note or None)
    except SupportError as err:
        return redirect(f"/support/terminaux/{device_id}", f"Intervention non ouverte : "
                                                           f"{_french(err)}")
    return redirect(f"/support/interventions/{item.intervention_id}",
                    f"Intervention n° {item.intervention_id} ouverte.")


@router.get("/support/interventions")
def interventions_page(request: Request, user: Agent, fleet: FleetDep):
    desk = desk_of(fleet)
    status = _param(request, "status", STATUSES)
    category = _param(request, "category", CATEGORIES)
    items = desk.store.interventions(status=status, category=category, limit=200)
    return render(request, "support/interventions.html", user, items=items,
                  filters={"status": status, "category": category}, L=LABELS)


def _intervention_or_404(desk: SupportDesk, intervention_id: int):
    item = desk.store.intervention(intervention_id) if 0 < intervention_id < 2**31 else None
    if item is None:
        raise PageError(404, "Intervention introuvable.")
    return item


@router.get("/support/interventions/{intervention_id}")
def intervention_page(request: Request, intervention_id: int, user: Agent, fleet: FleetDep):
    desk = desk_of(fleet)
    item = _intervention_or_404(desk, intervention_id)
    return render(request, "support/intervention.html", user, item=item,
                  commands=desk.store.commands(intervention_id=intervention_id),
                  t=terminal_words(desk.terminal(item.device_id)), L=LABELS)


@router.post("/support/interventions/{intervention_id}/statut")
def change_intervention(request: Request, intervention_id: int, user: Agent, fleet: FleetDep,
                        status: Annotated[str, Form(max_length=16)]):
    desk = desk_of(fleet)
    _intervention_or_404(desk, intervention_id)
    back = f"/support/interventions/{intervention_id}"
    try:
        desk.interventions.move(user.email, user.role, intervention_id, status=status)
    except SupportError as err:
        return redirect(back, f"Changement refusé : {_french(err)}")
    return redirect(back, f"Statut : {INTERVENTION_STATUSES[status]}.")


@router.post("/support/interventions/{intervention_id}/notes")
def add_note(request: Request, intervention_id: int, user: Agent, fleet: FleetDep,
             text: Text):
    desk = desk_of(fleet)
    _intervention_or_404(desk, intervention_id)
    back = f"/support/interventions/{intervention_id}"
    try:
        desk.interventions.add_note(user.email, user.role, intervention_id, text)
    except SupportError as err:
        return redirect(back, f"Note refusée : {_french(err)}")
    return redirect(back, "Note ajoutée.")


@router.get("/support/alertes")
def alerts_page(request: Request, user: Agent, fleet: FleetDep):
    desk = desk_of(fleet)
    kind = _param(request, "kind", KINDS)
    partner = _param(request, "partner", size=40)
    history = request.query_params.get("history") == "1"
    alerts = [alert_words(a) for a in desk.alert_list(active=None if history else True,
                                                      kind=kind, partner_id=partner)]
    partners = sorted({(a["partner_id"], a["partner_name"]) for a in desk.alert_list(None)
                       if a["partner_id"]}, key=lambda p: (p[1] or "", p[0]))
    return render(request, "support/alerts.html", user, alerts=alerts, partners=partners,
                  filters={"kind": kind, "partner": partner, "history": history}, L=LABELS)


@router.post("/support/alertes/{alert_id}/intervention")
def alert_intervention(request: Request, alert_id: int, user: Agent, fleet: FleetDep):
    desk = desk_of(fleet)
    alert = desk.store.alert(alert_id) if 0 < alert_id < 2**31 else None
    if alert is None:
        raise PageError(404, "Alerte introuvable.")
    item = desk.interventions.from_alert(alert, user.email, user.role)
    return redirect(f"/support/interventions/{item.intervention_id}",
                    f"Intervention n° {item.intervention_id} pour cette alerte.")
