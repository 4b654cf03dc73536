"""Partner admin pages: home, operations, reimbursements, agreements, terminals.

Every call is scoped by `user.partner_id` (the logged-in account's partner), never by an id
from the request: another partner's operation is simply "introuvable".
"""

from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request

from fleet_server.entrypoints.support_texts import INTERVENTION_CATEGORIES as HELP_CATEGORIES
from fleet_server.entrypoints.web import labels, refusals
from fleet_server.entrypoints.web.deps import (
    PARTNER_ADMIN,
    WebUser,
    redirect,
    render,
    require_user,
)
from fleet_server.entrypoints.web.services import ConsoleDep
from fleet_server.service_layer.partner_console import ConsoleError, OperationFilter

router = APIRouter(include_in_schema=False)
Admin = Annotated[WebUser, require_user(PARTNER_ADMIN)]
PER_PAGE = 20
PAGE_SIZES = (10, 20, 50, 100)  # seed 001: the partner picks how many operations a page shows
STATUS_LABELS = {"approved": "Validée", "voided": "Annulée"}
KIND_LABELS = {"card": "Carte", "voucher": "Bon d'échange", "coupon": "Coupon"}


def _day(raw: str | None) -> date | None:
    try:
        day = date.fromisoformat(raw) if raw else None
    except ValueError:
        return None
    return day if day and date(2000, 1, 1) <= day <= date(2100, 12, 31) else None


def filters_from(params) -> OperationFilter:
    status = params.get("status")
    reimbursement = {"yes": True, "no": False}.get(params.get("reimbursement") or "")
    return OperationFilter(status=status if status in STATUS_LABELS else None,
                           start=_day(params.get("start")), end=_day(params.get("end")),
                           search=(params.get("q") or "").strip()[:40] or None,
                           reimbursement=reimbursement)


def _page_number(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() and len(raw) < 6 else 1


def _page_size(raw: str | None) -> int:
    return int(raw) if raw in {str(n) for n in PAGE_SIZES} else PER_PAGE


def _back(raw: str | None) -> str:
    # Only back to the operations list (with its filters), never elsewhere.
    return raw if isinstance(raw, str) and raw.startswith("/partner/operations?") \
        and "//" not in raw \
        else "/partner/operations"


@router.get("/partner")
def home(request: Request, user: Admin, console: ConsoleDep):
    return render(request, "partner/home.html", user, home=console.home(user.partner_id),
                  status_labels=STATUS_LABELS, kind_labels=KIND_LABELS)


@router.get("/partner/operations")
def operations(request: Request, user: Admin, console: ConsoleDep):
    params = request.query_params
    f = filters_from(params)
    page = _page_number(params.get("page"))
    per_page = _page_size(params.get("n"))
    rows, more = console.operations(user.partner_id, f, page, per_page)
    query = {k: v for k, v in params.items() if k in ("status", "start", "end", "q",
                                                      "reimbursement") and v}
    if per_page != PER_PAGE:
        query["n"] = str(per_page)
    here = "/partner/operations?" + urlencode({**query, "page": page})
    return render(request, "partner/operations.html", user, rows=rows, f=f, query=query,
                  page=page, more=more, here=here, blocker=refusals.cancel_blocker,
                  holders=console.holders(rows), per_page=per_page, page_sizes=PAGE_SIZES,
                  status_labels=STATUS_LABELS, kind_labels=KIND_LABELS,
                  prev_url="/partner/operations?" + urlencode({**query, "page": page - 1}),
                  next_url="/partner/operations?" + urlencode({**query, "page": page + 1}))


@router.post("/partner/operations/{operation_id}/reference")
def set_reference(request: Request, user: Admin, console: ConsoleDep, operation_id: str,
                  reference: Annotated[str, Form(max_length=200)] = "",
                  back: Annotated[str | None, Form(max_length=500)] = None):
    try:
        op = console.set_reference(user.partner_id, operation_id, reference)
    except ConsoleError as err:
        return redirect(_back(back), refusals.text(err))
    if "hx-request" in request.headers:
        return render(request, "partner/_operation_row.html", user, op=op, here=_back(back),
                      blocker=refusals.cancel_blocker, status_labels=STATUS_LABELS,
                      holders=console.holders([op]),
                      kind_labels=KIND_LABELS, saved=True)
    return redirect(_back(back), f"Référence interne de l'opération {op.id} enregistrée.")


@router.post("/partner/operations/{operation_id}/cancel")
def cancel(user: Admin, console: ConsoleDep, operation_id: str,
           back: Annotated[str | None, Form(max_length=500)] = None):
    try:
        op = console.cancel(user.partner_id, operation_id)
    except ConsoleError as err:
        return redirect(_back(back), f"Annulation impossible : {refusals.text(err)}")
    return redirect(_back(back), f"Opération {op.id} annulée : le montant est restitué.")


@router.post("/partner/operations/export")
async def export_operations(request: Request, user: Admin, console: ConsoleDep):
    form = await request.form()
    ids = [v for v in form.getlist("operation_ids") if isinstance(v, str)]
    try:
        export = console.export_operations(user.partner_id, user.id, filters_from(form), ids)
    except ConsoleError as err:
        return redirect(_back(form.get("back")), refusals.text(err))
    return redirect("/partner/exports", f"Export « {export.filename} » créé "
                                        f"({export.rows} opération(s)).")


@router.get("/partner/reimbursements")
def reimbursements(request: Request, user: Admin, console: ConsoleDep):
    return render(request, "partner/reimbursements.html", user,
                  batches=console.batches(user.partner_id), labels=labels.BATCH_STATES)


@router.post("/partner/reimbursements/{batch_id}/cancel")
def cancel_batch(user: Admin, console: ConsoleDep, batch_id: str):
    try:
        batch = console.cancel_batch(user.partner_id, batch_id)
    except ConsoleError as err:
        return redirect("/partner/reimbursements", refusals.text(err))
    return redirect("/partner/reimbursements", f"Lot {batch.id} annulé : ses {batch.count} "
                                               "opération(s) sont de nouveau annulables.")


@router.post("/partner/reimbursements/export")
def export_batches(user: Admin, console: ConsoleDep):
    try:
        export = console.export_batches(user.partner_id, user.id)
    except ConsoleError as err:
        return redirect("/partner/reimbursements", refusals.text(err))
    return redirect("/partner/exports", f"Export « {export.filename} » créé.")


@router.get("/partner/agreements")
def agreements(request: Request, user: Admin, console: ConsoleDep):
    return render(request, "partner/agreements.html", user,
                  agreements=console.agreements(user.partner_id), programs=console.programs(),
                  categories=console.categories())


@router.post("/partner/agreements")
def request_agreement(user: Admin, console: ConsoleDep,
                      program_id: Annotated[str, Form(max_length=40)],
                      category: Annotated[str, Form(max_length=40)]):
    try:
        code = console.request_agreement(user.partner_id, program_id, category)
    except ConsoleError as err:
        return redirect("/partner/agreements", refusals.text(err))
    return redirect("/partner/agreements", f"Demande de convention {code} envoyée : "
                                           "le programme l'instruit.")


@router.get("/partner/terminals")
def terminals(request: Request, user: Admin, console: ConsoleDep):
    return render(request, "partner/terminals.html", user,
                  terminals=console.terminals(user.partner_id), help_categories=HELP_CATEGORIES,
                  can_ask=console.interventions is not None,
                  contact=support_contact(request.app.state.fleet.settings))


def support_contact(settings) -> dict | None:
    """The programme's support line as the settings give it; None when none is set."""
    contact = {"phone": settings.support_phone, "email": settings.support_email,
               "hours": settings.support_hours}
    return contact if any(contact.values()) else None


@router.post("/partner/terminals/claim")
def claim(user: Admin, console: ConsoleDep, device_id: Annotated[str, Form(max_length=40)],
          code: Annotated[str, Form(max_length=40)]):
    try:
        claimed = console.claim(user.partner_id, device_id, code)
    except ConsoleError as err:
        return redirect("/partner/terminals", refusals.text(err))
    return redirect("/partner/terminals", f"Terminal {claimed} mis en service.")



@router.post("/partner/terminals/{device_id}/help")
def ask_support(user: Admin, console: ConsoleDep, device_id: str,
                category: Annotated[str, Form(max_length=40)],
                title: Annotated[str, Form(max_length=200)]):
    try:
        number, joined = console.ask_support(user.partner_id, user.email, device_id[:24],
                                             category, title)
    except ConsoleError as err:
        return redirect("/partner/terminals", refusals.text(err))
    if joined:
        return redirect("/partner/assistance", f"Ce terminal a déjà une demande en cours "
                                               f"(n° {number}) : la vôtre y est ajoutée.")
    return redirect("/partner/assistance", f"Demande n° {number} transmise à l'assistance : "
                                           "elle vous recontacte.")
