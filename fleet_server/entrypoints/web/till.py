"""The online till and today's operations, for partner users and admins."""

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request

from fleet_server.entrypoints.web.deps import (
    PARTNER_ADMIN,
    PARTNER_USER,
    FleetDep,
    WebUser,
    render,
    require_user,
)
from fleet_server.entrypoints.web.partner_pages import KIND_LABELS, STATUS_LABELS
from fleet_server.entrypoints.web.services import ConsoleDep, utcnow
from fleet_server.service_layer import online_till
from fleet_server.service_layer.partner_console import OperationFilter

router = APIRouter(include_in_schema=False)
Clerk = Annotated[WebUser, require_user(PARTNER_ADMIN, PARTNER_USER)]


def _till(request: Request, user, console, result=None, status_code=200, values=None):
    return render(request, "till/till.html", user, status_code=status_code, result=result,
                  categories=console.signed_categories(user.partner_id),
                  sale_key=secrets.token_urlsafe(24), values=values or {})


@router.get("/till")
def till(request: Request, user: Clerk, console: ConsoleDep):
    return _till(request, user, console)


@router.post("/till/sale")
def sale(request: Request, user: Clerk, fleet: FleetDep, console: ConsoleDep,
         code: Annotated[str, Form(max_length=200)],
         amount: Annotated[str, Form(max_length=40)],
         sale_key: Annotated[str, Form(max_length=100)],
         category: Annotated[str, Form(max_length=40)] = ""):
    allowed = console.signed_categories(user.partner_id)
    result = online_till.sell(fleet.uow, fleet.ledger, user.partner_id, code, amount,
                              category if category in allowed else None, sale_key, utcnow)
    headers = {"X-Sale": "approved" if result.approved else "declined"}
    if "hx-request" in request.headers:
        # The result alone, and a fresh key for the next sale (the old one is spent).
        response = render(request, "till/_result.html", user, result=result,
                          sale_key=secrets.token_urlsafe(24))
    else:
        response = _till(request, user, console, result, values=None if result.approved
                         else {"code": code[:40], "amount": amount[:12], "category": category})
    response.headers.update(headers)
    return response


@router.get("/till/operations")
def today(request: Request, user: Clerk, console: ConsoleDep):
    page = request.query_params.get("page", "1")
    page = int(page) if page.isdigit() and len(page) < 5 else 1
    rows, more = console.operations(user.partner_id, OperationFilter(), page, 50,
                                    today_only=True)
    return render(request, "till/today.html", user, rows=rows, page=page, more=more,
                  status_labels=STATUS_LABELS, kind_labels=KIND_LABELS)
