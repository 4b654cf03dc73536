"""The category list (operator page) and the `category` template filter that turns a code
into its French label on every page (`{{ op.category|category }}`)."""

import time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from jinja2 import pass_context

from fleet_server.entrypoints.web import refusals
from fleet_server.entrypoints.web.deps import (
    OPERATOR,
    WebUser,
    redirect,
    render,
    require_user,
    templates,
)
from fleet_server.entrypoints.web.layout import add_nav
from fleet_server.entrypoints.web.services import OperatorDep
from fleet_server.service_layer.operator_console import OperatorError

router = APIRouter(include_in_schema=False)
Operator = Annotated[WebUser, require_user(OPERATOR)]
add_nav(OPERATOR, "Catégories", "/operator/categories")

_TTL_S = 10.0  # a label renamed elsewhere (another instance, the API) shows within seconds
_cache: dict[int, tuple[float, dict[str, str]]] = {}


def labels_of(ledger) -> dict[str, str]:
    """code -> French label, from the ledger's list (empty for an external ledger)."""
    read = getattr(ledger, "category_labels", None)
    if read is None:
        return {}
    now = time.monotonic()
    cached = _cache.get(id(ledger))
    if cached is None or now - cached[0] > _TTL_S:
        cached = (now, read())
        _cache[id(ledger)] = cached
    return cached[1]


def forget_labels() -> None:
    _cache.clear()


@pass_context
def category_label(context, code) -> str:
    if not code:
        return ""
    request = context.get("request")
    fleet = getattr(getattr(getattr(request, "app", None), "state", None), "fleet", None)
    return labels_of(fleet.ledger).get(code, code) if fleet is not None else code


templates.env.filters["category"] = category_label


@router.get("/operator/categories")
def categories(request: Request, user: Operator, console: OperatorDep):
    return render(request, "operator/categories.html", user, categories=console.categories())


@router.post("/operator/categories")
def save_category(user: Operator, console: OperatorDep,
                  code: Annotated[str, Form(max_length=40)],
                  label: Annotated[str, Form(max_length=80)]):
    try:
        saved = console.save_category(code, label)
    except OperatorError as err:
        return redirect("/operator/categories", refusals.text(err))
    forget_labels()
    return redirect("/operator/categories",
                    f"Catégorie « {saved.label} » ({saved.code}) enregistrée.")
