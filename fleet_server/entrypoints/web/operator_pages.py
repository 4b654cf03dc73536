"""Operator pages: partners (create, agreements, suspend, first admin), terminals, accounts.
Firmware releases and campaigns have their pages in operator_updates.py."""

from typing import Annotated

from fastapi import APIRouter, Form, Request

from fleet_server.adapters.smtp_mailer import MailFailed, MailNotConfigured
from fleet_server.domain.roles import OPERATOR, PARTNER_ADMIN, PARTNER_ROLES, STAFF_ROLES
from fleet_server.entrypoints.web import labels, refusals
from fleet_server.entrypoints.web.deps import (
    AccountsDep,
    WebUser,
    redirect,
    render,
    require_user,
)
from fleet_server.entrypoints.web.services import OperatorDep
from fleet_server.service_layer.accounts import AccountError
from fleet_server.service_layer.operator_console import OperatorError
from fleet_server.service_layer.partners import NewPartner, PartnerRefused

router = APIRouter(include_in_schema=False)
Operator = Annotated[WebUser, require_user(OPERATOR)]
Field = Annotated[str, Form(max_length=300)]
ACTION_LABELS = {"activate": "activé", "suspend": "suspendu", "resume": "remis en service",
                 "unassign": "retiré au partenaire", "retire": "mis au rebut"}
NEXT_STATUS = {"requested": [("accepted", "Accepter"), ("terminated", "Refuser")],
               "accepted": [("signed", "Signer"), ("terminated", "Résilier")],
               "signed": [("terminated", "Résilier")], "terminated": []}


def _invite(accounts, email: str, role: str, partner_id: str | None) -> str:
    try:
        user, _ = accounts.invite(email, role, partner_id)
    except AccountError as err:
        return refusals.text(err)
    except (MailNotConfigured, MailFailed):
        return ("Compte créé, mais l'e-mail d'activation n'a pas pu partir (SMTP) : "
                f"« fleet user link {email.strip()[:200]} » sur le serveur donne le lien.")
    return f"Lien d'activation envoyé à {user.email}."


@router.get("/operator/partners")
def partners(request: Request, user: Operator, console: OperatorDep):
    return render(request, "operator/partners.html", user, partners=console.partners())


@router.post("/operator/partners")
def create_partner(user: Operator, console: OperatorDep, accounts: AccountsDep, name: Field,
                   payments: Field = "yes", phone: Field = "", email: Field = "",
                   address: Field = "", admin_email: Field = ""):
    try:
        partner_id = console.create_partner(NewPartner(name, payments == "yes", phone, email,
                                                       address))
    except PartnerRefused as err:
        return redirect("/operator/partners", refusals.sentence(err.code))
    message = f"Partenaire {partner_id} créé."
    if admin_email.strip():
        message += " " + _invite(accounts, admin_email, PARTNER_ADMIN, partner_id)
    return redirect(f"/operator/partners/{partner_id}", message)


@router.get("/operator/partners/{partner_id}")
def partner(request: Request, user: Operator, console: OperatorDep, accounts: AccountsDep,
            partner_id: str):
    try:
        found = console.partner(partner_id[:40])
    except OperatorError as err:
        return redirect("/operator/partners", refusals.text(err))
    return render(request, "operator/partner.html", user, partner=found,
                  categories=console.categories(),
                  agreements=console.agreements(found.partner_id), programs=console.programs(),
                  labels=labels.AGREEMENT_STATES, next_status=NEXT_STATUS,
                  users=accounts.users(found.partner_id),
                  terminals=console.terminals(found.partner_id),
                  states=labels.TERMINAL_STATES)


@router.post("/operator/partners/{partner_id}/suspend")
def suspend(user: Operator, console: OperatorDep, partner_id: str,
            suspended: Annotated[str, Form(max_length=1)]):
    try:
        console.set_suspended(partner_id[:40], suspended == "1")
    except OperatorError as err:
        return redirect("/operator/partners", refusals.text(err))
    return redirect(f"/operator/partners/{partner_id}", "Partenaire suspendu : ses ventes sont "
                    "refusées." if suspended == "1" else "Partenaire réactivé.")


@router.post("/operator/partners/{partner_id}/agreements")
def create_agreement(user: Operator, console: OperatorDep, partner_id: str, program_id: Field,
                     category: Field, status: Field = "signed"):
    try:
        code = console.create_agreement(partner_id[:40], program_id, category, status)
    except OperatorError as err:
        return redirect(f"/operator/partners/{partner_id}", refusals.text(err))
    return redirect(f"/operator/partners/{partner_id}", f"Convention {code} enregistrée.")


@router.post("/operator/agreements/{agreement_id}/status")
def agreement_status(user: Operator, console: OperatorDep, agreement_id: str,
                     status: Field, partner_id: Field):
    try:
        console.set_agreement_status(agreement_id, status)
    except OperatorError as err:
        return redirect(f"/operator/partners/{partner_id[:40]}", refusals.text(err))
    return redirect(f"/operator/partners/{partner_id[:40]}",
                    f"Convention {agreement_id[:16]} : "
                    f"{labels.AGREEMENT_STATES.get(status, status)}.")


@router.post("/operator/partners/{partner_id}/users")
def invite_partner_user(user: Operator, accounts: AccountsDep, partner_id: str, email: Field,
                        role: Field = PARTNER_ADMIN):
    role = role if role in PARTNER_ROLES else PARTNER_ADMIN
    return redirect(f"/operator/partners/{partner_id[:40]}",
                    _invite(accounts, email, role, partner_id[:40]))


@router.get("/operator/terminals")
def terminals(request: Request, user: Operator, console: OperatorDep):
    return render(request, "operator/terminals.html", user, terminals=console.terminals(),
                  partners=console.partners(), states=labels.TERMINAL_STATES)


@router.post("/operator/terminals/{device_id}/allocate")
def allocate(user: Operator, console: OperatorDep, device_id: str, partner_id: Field):
    try:
        console.allocate(device_id, partner_id)
    except OperatorError as err:
        return redirect("/operator/terminals", refusals.text(err))
    return redirect("/operator/terminals", f"Terminal {device_id[:24]} alloué à {partner_id}.")


@router.post("/operator/terminals/{device_id}/state")
def change_state(user: Operator, console: OperatorDep, device_id: str, action: Field):
    try:
        console.change_state(device_id, action)
    except OperatorError as err:
        return redirect("/operator/terminals", refusals.text(err))
    return redirect("/operator/terminals", f"Terminal {device_id[:24]} : "
                                           f"{ACTION_LABELS.get(action, action)}.")


@router.get("/operator/users")
def users(request: Request, user: Operator, accounts: AccountsDep):
    return render(request, "operator/users.html", user, users=accounts.users())


@router.post("/operator/users")
def invite_staff(user: Operator, accounts: AccountsDep, email: Field, role: Field):
    if role not in STAFF_ROLES:
        return redirect("/operator/users", "Profil inconnu.")
    return redirect("/operator/users", _invite(accounts, email, role, None))


@router.post("/operator/users/{user_id}/active")
def set_active(user: Operator, accounts: AccountsDep, user_id: int,
               active: Annotated[str, Form(max_length=1)]):
    target = accounts.user(user_id)
    if target is None or target.id == user.id:
        return redirect("/operator/users", "Compte introuvable, ou le vôtre.")
    accounts.set_active(target.id, active == "1")
    return redirect("/operator/users", refusals.switched(target, active == "1"))
