"""The managed category list: the operator adds and renames categories; cards, vouchers, coupon
series and agreements only take listed codes (console, REST API and the ledger itself); pages,
the printed sheet and the CSV export show the French label. SQLite and PostgreSQL."""

import re

import pytest
import test_web_console
from test_web_console import csrf, logged_in, message

from fleet_server.ledger import exports
from fleet_server.reference_ledger import categories
from fleet_server.reference_ledger.reference import PotView
from protocol import tokens

fleet = test_web_console.fleet  # the fixture: a server on SQLite and on PostgreSQL


def test_a_new_database_lists_the_usual_categories_with_french_labels(fleet):
    labels = fleet.ledger.category_labels()
    assert labels["books"] == "Livres" and labels["driving"] == "Permis de conduire"


def test_the_ledger_refuses_codes_that_are_not_listed(fleet):
    ledger = fleet.ledger
    program = ledger.create_program("Pass", 2026)
    partner = ledger.create_partner("Librairie")
    with pytest.raises(categories.UnknownCategory):
        ledger.create_agreement(partner, program, "bokos", 2026)
    with pytest.raises(categories.UnknownCategory):
        ledger.create_voucher(program, tokens.make_voucher("2DZHB6P2"), "bokos", 1000, 2026)
    with pytest.raises(categories.UnknownCategory):
        ledger.create_coupon_series(program, "bokos", 2026,
                                    [(tokens.make_voucher("3DZHB6P2"), 300)])
    with pytest.raises(categories.UnknownCategory):
        ledger.create_beneficiary(program, tokens.make_card("97310000042"),
                                  [PotView("books", 100), PotView("bokos", 100)])
    assert ledger.list_operations(partner_id=partner) == []
    with pytest.raises(categories.CategoryInvalid):
        ledger.save_category("Bad Code", "Mauvais")


def test_operator_adds_and_renames_a_category_and_pages_show_labels(fleet):
    op = logged_in(fleet, "operateur@programme.example", "operator")
    token = csrf(op.get("/operator/categories"))
    page = op.post("/operator/categories", data={"csrf_token": token, "code": "museum",
                                                 "label": "Musées"})
    assert message(page) == "Catégorie « Musées » (museum) enregistrée."
    page = op.post("/operator/categories", data={"csrf_token": token, "code": "museum",
                                                 "label": "Musées et monuments"})
    assert "Musées et monuments" in page.text
    assert message(op.post("/operator/categories", data={
        "csrf_token": token, "code": "Mus ée", "label": "x"})).startswith("Catégorie invalide")

    page = op.post("/operator/programs", data={"csrf_token": token, "name": "Pass Culture",
                                               "market_year": "2026", "max_amount": ""})
    program = re.search(r'<option value="([^"]+)">Pass Culture', page.text).group(1)
    # A code typed by hand that is not listed is refused with a French reason.
    page = op.post("/operator/vouchers", data={"csrf_token": token, "program_id": program,
                                               "category": "bokos", "value": "10",
                                               "count": "1"})
    assert "Catégorie « bokos » inconnue" in message(page)
    page = op.get("/operator/vouchers")
    assert '<option value="museum">Musées et monuments</option>' in page.text
    page = op.post("/operator/vouchers", data={"csrf_token": token, "program_id": program,
                                               "category": "museum", "value": "10",
                                               "count": "1"}, follow_redirects=True)
    vouchers = op.get("/operator/vouchers")
    assert "Musées et monuments" in vouchers.text and ">museum<" not in vouchers.text


def test_rest_api_lists_and_refuses_unlisted_categories(fleet):
    from fastapi.testclient import TestClient

    from fleet_server.adapters.api_tokens import issue_token
    from fleet_server.entrypoints.app import create_app

    secret = issue_token(fleet.session_factory, "operator", None, "ops")
    api = TestClient(create_app(fleet), headers={"Authorization": f"Bearer {secret}"})
    listed = api.get("/api/v1/categories").json()
    assert {"code": "books", "label": "Livres"} in listed
    assert api.put("/api/v1/categories/museum", json={"label": "Musées"}).json() == {
        "code": "museum", "label": "Musées"}
    program = fleet.ledger.create_program("Pass", 2026)
    refused = api.post("/api/v1/vouchers", json={
        "program_id": program, "number": tokens.make_voucher("4DZHB6P2"), "category": "bokos",
        "value_cents": 1000, "market_year": 2026})
    assert refused.status_code == 422 and "bokos" in refused.json()["detail"]


def test_csv_export_names_the_category_in_french(fleet):
    ledger = fleet.ledger
    program = ledger.create_program("Pass", 2026)
    partner = ledger.create_partner("Librairie")
    ledger.create_agreement(partner, program, "books", 2026, "signed")
    card = tokens.make_card("97310000042")
    ledger.create_beneficiary(program, card, [PotView("books", 5000)])
    from datetime import UTC, datetime

    from fleet_server.ledger.port import DebitRequest

    assert ledger.debit(DebitRequest("k1", partner, card, 700, "books",
                                     datetime.now(UTC))).approved
    text = exports.operations_csv(ledger.list_operations(partner_id=partner),
                                  ledger.category_labels())
    assert ";Livres;" in text.splitlines()[1]
