"""Operator page of firmware releases and update campaigns: what is published, how each
campaign is going; start a campaign, pause, resume or cancel one. Publishing a release stays
with `fleet release` (signing happens offline); this page only shows what the update service
holds (fleet.updates) and nothing when the server runs without it.

Starting a campaign goes through `UpdateService.start`, as `POST /api/v1/campaigns` does: the
page only turns the form's text into numbers and the service's refusals into French."""

import math
from typing import Annotated

from fastapi import APIRouter, Form, Request

from fleet_server.entrypoints.web.deps import (
    OPERATOR,
    FleetDep,
    PageError,
    WebUser,
    redirect,
    render,
    require_user,
)
from fleet_server.entrypoints.web.labels import CAMPAIGN_STATES
from fleet_server.entrypoints.web.layout import add_nav
from fleet_server.service_layer.campaigns_ports import CampaignError, Rules

router = APIRouter(include_in_schema=False)
Operator = Annotated[WebUser, require_user(OPERATOR)]
Text = Annotated[str, Form(max_length=40)]
Number = Annotated[str, Form(max_length=12)]
add_nav(OPERATOR, "Mises à jour", "/operator/updates")
STATE_LABELS = CAMPAIGN_STATES
ACTIONS = {"pause": "mise en pause", "resume": "reprise", "cancel": "annulée"}
TARGET_KINDS = {"all": "Tout le parc", "partner": "Les terminaux d'un partenaire",
                "model": "Un modèle de carte", "firmware": "Les terminaux d'une version",
                "devices": "Une liste de terminaux"}
# The service's refusals (campaigns_ports.py), by the start of their English text.
REFUSALS = (
    ("target exactly one", "Cible vide : choisissez le partenaire, le modèle de carte, la "
                           "version installée ou la liste de terminaux visés."),
    ("percent", "Le pourcentage du parc va de 1 à 100."),
    ("pacing", "Cadence hors limites : débit de départ de 1 au débit maximal, débit maximal "
               "de 1 à 100 000 terminaux par minute, accélération de 1 à 100."),
    ("rules out of range", "Valeur hors limites : délai de démarrage de 0 à 86 400 s, seuil "
                           "d'abandon de 0 à 100 %, minimum de terminaux terminés d'au moins "
                           "1, délai par terminal de 10 s à 7 jours, nouvelles tentatives de "
                           "0 à 10."),
    ("too many devices", "Liste trop longue : 100 000 terminaux au plus."),
    ("damaged release", "Version endommagée dans la base (son manifeste ne passe plus les "
                        "contrôles) : publiez-la à nouveau."),
    ("downgrade needs", "Retour à une version plus ancienne : il faut d'abord la déclaration "
                        "de retour signée avec la clé de publication (fleet release "
                        "rollback-sign, puis rollback-publish)."),
)
# The form's numeric fields: (name, French label, type, default shown).
DEFAULTS = Rules()
NUMBERS = (
    ("percent", "Pourcentage du parc visé", int, 100),
    ("max_per_minute", "Débit maximal (terminaux par minute)", int, DEFAULTS.max_per_minute),
    ("base_per_minute", "Débit de départ (par minute)", int, DEFAULTS.base_per_minute),
    ("ramp", "Accélération (× par minute)", float, DEFAULTS.ramp),
    ("start_delay_s", "Délai aléatoire de démarrage, au plus (s)", int,
     DEFAULTS.start_delay_s),
    ("failure_pct", "Seuil d'abandon (% d'échecs)", float,
     round(DEFAULTS.failure_threshold * 100)),
    ("min_devices", "Seuil appliqué après (terminaux terminés)", int, DEFAULTS.min_devices),
    ("device_timeout_s", "Délai par terminal et par étape (s)", int,
     DEFAULTS.device_timeout_s),
    ("max_retries", "Nouvelles tentatives par terminal", int, DEFAULTS.max_retries),
)


class FormRefused(ValueError):
    """A form value the page cannot even hand to the service (not a number)."""


def _service(fleet):
    service = fleet.updates
    if service is None:
        raise PageError(404, "Ce serveur ne gère pas les mises à jour.")
    return service


def _choices(fleet, service) -> dict:
    releases = list(reversed(service.releases.list_releases()))
    models = sorted({m for r in releases for m in r["models"].split(",") if m})
    with fleet.uow() as uow:
        partners = [(p.partner_id, p.name) for p in uow.partners.list()]
    return {"releases": releases, "models": models, "partners": partners,
            "kinds": TARGET_KINDS, "numbers": NUMBERS}


@router.get("/operator/updates")
def updates(request: Request, user: Operator, fleet: FleetDep):
    service = fleet.updates
    if service is None:
        return render(request, "operator/updates.html", user, available=False)
    campaigns = [service.show(c["campaign_id"]) for c in
                 reversed(service.campaigns.list_campaigns())]
    return render(request, "operator/updates.html", user, available=True,
                  campaigns=campaigns, labels=STATE_LABELS, form={},
                  **_choices(fleet, service))


def _number(form: dict, name: str, label: str, kind: type) -> int | float:
    text = form[name].strip().replace(",", ".").replace(" ", "").replace("\u00a0", "")
    try:
        value = kind(text)
        if not math.isfinite(value):
            raise ValueError(text)
        return value
    except ValueError:
        expected = "un nombre entier" if kind is int else "un nombre"
        raise FormRefused(f"« {label} » : {expected} attendu (« {form[name][:12]} »).") \
            from None


def _request(form: dict) -> tuple[dict, dict]:
    """The form's text as the service's plain target and rules (what the API's body holds)."""
    values = {name: _number(form, name, label, kind) for name, label, kind, _ in NUMBERS}
    kind = form["target_kind"]
    if kind not in TARGET_KINDS:
        raise FormRefused("Choisissez le type de cible.")
    target: dict = {"percent": values.pop("percent")}
    if kind == "all":
        target["all"] = True
    elif kind == "devices":
        listed = form["devices"].replace(",", " ").split()
        target["devices"] = [d[:24] for d in listed]
    else:
        target[kind] = form[kind].strip() or None
    values["failure_threshold"] = values.pop("failure_pct") / 100
    values["allow_downgrade"] = form["allow_downgrade"] == "1"
    return target, values


def _french(err: CampaignError, release: str) -> str:
    text = str(err)
    if text.startswith("no release"):
        return f"Version inconnue : « {release} » n'est pas publiée."
    return next((fr for prefix, fr in REFUSALS if text.startswith(prefix)),
                f"Campagne refusée : {text}")


@router.post("/operator/updates/campaigns")
def start_campaign(request: Request, user: Operator, fleet: FleetDep,
                   release: Text = "", target_kind: Text = "", partner: Text = "",
                   model: Text = "", firmware: Text = "",
                   devices: Annotated[str, Form(max_length=200_000)] = "",
                   percent: Number = "100", max_per_minute: Number = "",
                   base_per_minute: Number = "", ramp: Number = "", start_delay_s: Number = "",
                   failure_pct: Number = "", min_devices: Number = "",
                   device_timeout_s: Number = "", max_retries: Number = "",
                   allow_downgrade: Text = ""):
    service = _service(fleet)
    form = dict(release=release, target_kind=target_kind, partner=partner, model=model,
                firmware=firmware, devices=devices, percent=percent,
                max_per_minute=max_per_minute, base_per_minute=base_per_minute, ramp=ramp,
                start_delay_s=start_delay_s, failure_pct=failure_pct, min_devices=min_devices,
                device_timeout_s=device_timeout_s, max_retries=max_retries,
                allow_downgrade=allow_downgrade)
    try:
        target, rules = _request(form)
        view = service.start(release.strip(), target, rules)
    except FormRefused as err:
        message = str(err)
    except CampaignError as err:
        message = _french(err, release.strip())
    else:
        return redirect(f"/operator/updates/campaigns/{view['campaign_id']}",
                        f"Campagne {view['campaign_id']} lancée : version "
                        f"{view['release_version']} vers {view['total']} terminal(aux).")
    # Shown again with what was typed, so nothing needs typing twice.
    campaigns = [service.show(c["campaign_id"]) for c in
                 reversed(service.campaigns.list_campaigns())]
    return render(request, "operator/updates.html", user, status_code=422, available=True,
                  campaigns=campaigns, labels=STATE_LABELS, form=form, error=message,
                  **_choices(fleet, service))


@router.get("/operator/updates/campaigns/{campaign_id}")
def campaign(request: Request, user: Operator, fleet: FleetDep, campaign_id: str):
    try:
        view = _service(fleet).show(campaign_id[:32])
    except LookupError:
        raise PageError(404, "Campagne introuvable.") from None
    return render(request, "operator/campaign.html", user, c=view, labels=STATE_LABELS,
                  kinds=TARGET_KINDS)


@router.post("/operator/updates/{campaign_id}/{action}")
def change(user: Operator, fleet: FleetDep, campaign_id: str, action: str):
    service = fleet.updates
    if service is None or action not in ACTIONS:
        return redirect("/operator/updates", "Action impossible.")
    try:
        getattr(service, action)(campaign_id[:32])
    except (LookupError, ValueError) as err:
        return redirect("/operator/updates", f"Action impossible : {err}")
    return redirect("/operator/updates", f"Campagne {campaign_id[:32]} {ACTIONS[action]}.")
