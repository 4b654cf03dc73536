"""Operator pages: programs, beneficiaries' cards and pots, vouchers and coupon series, and a
printable sheet of their QR codes."""

import io
from typing import Annotated

import qrcode
from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from fleet_server.entrypoints.web import refusals
from fleet_server.entrypoints.web.deps import (
    OPERATOR,
    PageError,
    WebUser,
    redirect,
    render,
    require_user,
)
from fleet_server.entrypoints.web.services import OperatorDep
from fleet_server.service_layer.operator_console import OperatorError
from protocol import tokens
from protocol.errors import ProtocolError

router = APIRouter(include_in_schema=False)
Operator = Annotated[WebUser, require_user(OPERATOR)]
Field = Annotated[str, Form(max_length=300)]


def _page(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return int(raw) if raw.isdigit() and len(raw) < 5 and int(raw) > 0 else 1


@router.get("/operator/beneficiaries")
def beneficiaries(request: Request, user: Operator, console: OperatorDep):
    search = request.query_params.get("q", "")[:40]
    page = _page(request)
    return render(request, "operator/beneficiaries.html", user, programs=console.programs(),
                  categories=console.categories(),
                  cards=console.cards(search, page), search=search, page=page)


@router.post("/operator/programs")
def create_program(user: Operator, console: OperatorDep, name: Field, market_year: Field,
                   max_amount: Field = ""):
    try:
        program_id = console.create_program(name, market_year, max_amount)
    except OperatorError as err:
        return redirect("/operator/beneficiaries", refusals.text(err))
    return redirect("/operator/beneficiaries", f"Programme {program_id} créé.")


@router.post("/operator/beneficiaries")
async def create_card(request: Request, user: Operator, console: OperatorDep):
    form = await request.form()

    def text(name: str) -> str:
        value = form.get(name)
        return value[:100] if isinstance(value, str) else ""

    pots = [(text(f"category_{i}"), text(f"balance_{i}"), text(f"cap_{i}")) for i in range(3)]
    try:
        card = console.create_card(text("program_id"), text("name"), pots)
    except OperatorError as err:
        return redirect("/operator/beneficiaries", refusals.text(err))
    return redirect(f"/operator/beneficiaries?q={card}", f"Carte {card} créée.")


@router.post("/operator/beneficiaries/{card}/load")
def load_pot(user: Operator, console: OperatorDep, card: str, category: Field, amount: Field):
    try:
        balance = console.load_pot(card[:40], category, amount)
    except OperatorError as err:
        return redirect(f"/operator/beneficiaries?q={card[:20]}", refusals.text(err))
    euros = f"{balance // 100},{balance % 100:02d} €"
    labels = {c.code: c.label for c in console.categories()}
    return redirect(f"/operator/beneficiaries?q={card[:20]}",
                    f"Cagnotte {labels.get(category, category)} chargée : nouveau solde {euros}.")


@router.get("/operator/vouchers")
def vouchers(request: Request, user: Operator, console: OperatorDep):
    search = request.query_params.get("q", "")[:12]
    page = _page(request)
    return render(request, "operator/vouchers.html", user, programs=console.programs(),
                  categories=console.categories(),
                  vouchers=console.vouchers(search, page), search=search, page=page)


@router.post("/operator/vouchers")
def issue_vouchers(user: Operator, console: OperatorDep, program_id: Field, category: Field,
                   value: Field, count: Field = "1"):
    try:
        numbers = console.issue_vouchers(program_id, category, value, count)
    except OperatorError as err:
        return redirect("/operator/vouchers", refusals.text(err))
    return redirect("/operator/vouchers/print?numbers=" + ",".join(numbers[:100]),
                    f"{len(numbers)} bon(s) émis.")


@router.post("/operator/series")
def create_series(user: Operator, console: OperatorDep, program_id: Field, category: Field,
                  values: Field, card: Field = ""):
    try:
        series_id, _ = console.create_series(program_id, category, values, card)
    except OperatorError as err:
        return redirect("/operator/vouchers", refusals.text(err))
    return redirect(f"/operator/vouchers/print?series={series_id}",
                    f"Série {series_id} créée : les coupons se valident dans l'ordre.")


@router.get("/operator/vouchers/print")
def print_sheet(request: Request, user: Operator, console: OperatorDep):
    params = request.query_params
    series = params.get("series", "")
    if series.isdigit() and len(series) < 10:
        rows = console.vouchers(None, 1, int(series))
    else:
        wanted = {n.strip().upper() for n in params.get("numbers", "").split(",")[:100]
                  if n.strip()}
        rows = [v for v in console.vouchers(None, 1) if v.number in wanted]
        for number in wanted - {v.number for v in rows}:
            rows += console.vouchers(number, 1)
    if not rows:
        raise PageError(404, "Aucun bon à imprimer.")
    return render(request, "operator/print.html", user, vouchers=rows,
                  programs={p.id: p for p in console.programs()})


@router.get("/operator/qr/{code}.png")
def qr_png(user: Operator, code: str):
    try:
        _kind, normalised = tokens.parse_token(code[:40])
    except ProtocolError as err:
        raise PageError(404, "Code inconnu.") from err
    image = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2,
                          box_size=8)
    image.add_data(normalised)
    out = io.BytesIO()
    image.make_image().save(out, format="PNG")
    return Response(out.getvalue(), media_type="image/png",
                    headers={"Cache-Control": "private, max-age=3600"})
