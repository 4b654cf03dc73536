"""Operator page of firmware releases and update campaigns: what is published, how each
campaign is going, and pause, resume or cancel. Publishing a release and starting a campaign
stay with `fleet release` (signing happens offline); this page only shows what the update
service holds (fleet.extras["updates"]) and nothing when the server runs without it."""

from typing import Annotated

from fastapi import APIRouter, Request

from fleet_server.entrypoints.web.deps import (
    OPERATOR,
    FleetDep,
    WebUser,
    redirect,
    render,
    require_user,
)
from fleet_server.entrypoints.web.layout import add_nav

router = APIRouter(include_in_schema=False)
Operator = Annotated[WebUser, require_user(OPERATOR)]
add_nav(OPERATOR, "Mises à jour", "/operator/updates")
STATE_LABELS = {"running": "En cours", "paused": "En pause", "cancelled": "Annulée",
                "aborted": "Interrompue (trop d'échecs)", "completed": "Terminée"}
ACTIONS = {"pause": "mise en pause", "resume": "reprise", "cancel": "annulée"}


@router.get("/operator/updates")
def updates(request: Request, user: Operator, fleet: FleetDep):
    service = fleet.extras.get("updates")
    releases = list(reversed(service.releases.list_releases())) if service else []
    campaigns = ([service.show(c["campaign_id"]) for c in
                  reversed(service.campaigns.list_campaigns())] if service else [])
    return render(request, "operator/updates.html", user, available=service is not None,
                  releases=releases, campaigns=campaigns, labels=STATE_LABELS)


@router.post("/operator/updates/{campaign_id}/{action}")
def change(user: Operator, fleet: FleetDep, campaign_id: str, action: str):
    service = fleet.extras.get("updates")
    if service is None or action not in ACTIONS:
        return redirect("/operator/updates", "Action impossible.")
    try:
        getattr(service, action)(campaign_id[:32])
    except (LookupError, ValueError) as err:
        return redirect("/operator/updates", f"Action impossible : {err}")
    return redirect("/operator/updates", f"Campagne {campaign_id[:32]} {ACTIONS[action]}.")
