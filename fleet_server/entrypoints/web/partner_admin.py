"""Partner admin pages: "Ma structure" (details, bank account, users) and "Mes exports"."""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from fleet_server.adapters.smtp_mailer import MailFailed, MailNotConfigured
from fleet_server.entrypoints.web import refusals
from fleet_server.entrypoints.web.deps import (
    PARTNER_ADMIN,
    PARTNER_USER,
    AccountsDep,
    FleetDep,
    PageError,
    WebUser,
    redirect,
    render,
    require_user,
)
from fleet_server.entrypoints.web.services import ConsoleDep, DataDep, utcnow
from fleet_server.service_layer.accounts import AccountError
from fleet_server.service_layer.bank_details import format_iban
from fleet_server.service_layer.partner_data import LIMITS, clean_profile, profile_dict

router = APIRouter(include_in_schema=False)
Admin = Annotated[WebUser, require_user(PARTNER_ADMIN)]
# "Ma structure", as in the seed: (section, [(field, label, max length)]).
_FORM = [
    ("Informations contractuelles", [
        ("legal_name", "Raison sociale"), ("siret", "N° SIRET"), ("department", "Département"),
        ("admin_email", "E-mail du contact administratif"),
        ("hq_street", "Siège : n° et libellé de voie"),
        ("hq_extra", "Siège : complément d'adresse"), ("hq_postcode", "Siège : code postal"),
        ("hq_city", "Siège : ville")]),
    ("Informations publiques", [
        ("trade_name", "Nom commercial"), ("contact_email", "E-mail de contact"),
        ("phone", "Téléphone"), ("website", "Site internet"),
        ("site_street", "Site d'activité : n° et libellé de voie"),
        ("site_extra", "Site d'activité : complément d'adresse"),
        ("site_postcode", "Site d'activité : code postal"),
        ("site_city", "Site d'activité : ville")]),
    ("Informations bancaires", [
        ("account_holder", "Titulaire du compte"), ("bank_name", "Désignation bancaire"),
        ("iban", "IBAN"), ("bic", "BIC")]),
]
SECTIONS = [(title, [(name, label, LIMITS[name]) for name, label in items])
            for title, items in _FORM]


def _organisation(request: Request, user, console, data, accounts, values=None,
                  problems=None, status_code=200, handover=None):
    partner = console.partner(user.partner_id)
    if values is None:
        values = profile_dict(data.profile(user.partner_id))
        if values.get("iban"):
            values["iban"] = format_iban(values["iban"])
    return render(request, "partner/organisation.html", user, status_code=status_code,
                  partner=partner, sections=SECTIONS, values=values, problems=problems or {},
                  users=accounts.users(user.partner_id), handover=handover)


@router.get("/partner/organisation")
def organisation(request: Request, user: Admin, console: ConsoleDep, data: DataDep,
                 accounts: AccountsDep):
    return _organisation(request, user, console, data, accounts)


@router.post("/partner/organisation")
async def save_organisation(request: Request, user: Admin, console: ConsoleDep, data: DataDep,
                            accounts: AccountsDep):
    form = await request.form()
    profile, problems = clean_profile({k: v for k, v in form.items() if isinstance(v, str)})
    if problems:
        values = {k: form.get(k) for _, items in SECTIONS for k, _, _ in items}
        problems = {name: refusals.profile_problem(p) for name, p in problems.items()}
        return _organisation(request, user, console, data, accounts, values, problems, 400)
    data.save_profile(user.partner_id, profile, utcnow())
    return redirect("/partner/organisation", "Informations enregistrées.")


@router.post("/partner/users")
def add_user(request: Request, user: Admin, accounts: AccountsDep, console: ConsoleDep,
             data: DataDep, fleet: FleetDep, email: Annotated[str, Form(max_length=200)],
             role: Annotated[str, Form(max_length=20)],
             name: Annotated[str, Form(max_length=120)] = ""):
    if role not in (PARTNER_ADMIN, PARTNER_USER):
        return redirect("/partner/organisation", "Profil inconnu.")
    try:
        created, link = accounts.invite(email, role, user.partner_id, name, send=False)
    except AccountError as err:
        return redirect("/partner/organisation", refusals.text(err))
    try:
        accounts.send_activation(created.email, link)
    except MailNotConfigured:
        if fleet.settings.mode == "dev":
            # No mail server on a developer's machine or in the demo: the admin who created
            # the account hands the link over. Shown once, on this answer only (no redirect,
            # so the link never travels in a cookie or a URL).
            return _organisation(request, user, console, data, accounts,
                                 handover={"email": created.email, "link": link})
        return redirect("/partner/organisation", "Compte créé, mais aucun serveur d'e-mail "
                                                 "n'est configuré : demandez au programme le "
                                                 "lien d'activation (fleet user link).")
    except MailFailed:
        return redirect("/partner/organisation", "Compte créé, mais l'e-mail d'activation n'a "
                                                 "pas pu partir : contactez le programme.")
    return redirect("/partner/organisation", f"Compte créé : un lien d'activation a été "
                                             f"envoyé à {created.email}.")


@router.post("/partner/users/{user_id}/active")
def set_user_active(user: Admin, accounts: AccountsDep, user_id: int,
                    active: Annotated[str, Form(max_length=5)]):
    target = accounts.user(user_id)
    if target is None or target.partner_id != user.partner_id:
        raise PageError(404, "Utilisateur introuvable.")
    if target.id == user.id:
        return redirect("/partner/organisation", "Vous ne pouvez pas désactiver votre propre "
                                                 "compte.")
    accounts.set_active(target.id, active == "1")
    return redirect("/partner/organisation", refusals.switched(target, active == "1"))


@router.get("/partner/exports")
def exports(request: Request, user: Admin, data: DataDep):
    return render(request, "partner/exports.html", user, exports=data.exports(user.partner_id))


@router.get("/partner/exports/{export_id}/download")
def download(user: Admin, data: DataDep, export_id: str):
    found = data.export_content(user.partner_id, export_id[:24])
    if found is None:
        raise PageError(404, "Export introuvable.")
    info, content = found
    return Response(content, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{info.filename}"',
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@router.post("/partner/exports/{export_id}/delete")
def delete(user: Admin, data: DataDep, export_id: str):
    if not data.delete_export(user.partner_id, export_id[:24]):
        raise PageError(404, "Export introuvable.")
    return redirect("/partner/exports", "Export supprimé.")

