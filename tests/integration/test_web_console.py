"""Operator and partner pages over HTTP (FastAPI's test client) on the real databases (SQLite
and PostgreSQL): programs, cards and pots, vouchers and coupon series with their QR sheet,
terminal allocation and the partner's claim with the label's code, suspension, agreements;
the fleet user CLI sending its activation link through a real local SMTP server."""

import os
import re
import sys
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from fleet_server.bootstrap import bootstrap
from fleet_server.entrypoints.app import create_app
from fleet_server.service_layer import registry
from fleet_server.settings import Settings
from protocol import tokens

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
from console_browser import smtp  # noqa: E402, F401  (fixture: a real local SMTP server)

PASSWORD = "Console-Integration-2026!"
MASTER = "integration-test-master-secret-0123456789"


@pytest.fixture(params=["sqlite", "postgres"])
def fleet(request, tmp_path):
    url = (f"sqlite:///{tmp_path}/fleet.sqlite3" if request.param == "sqlite"
           else request.getfixturevalue("fresh_postgres_url"))
    fleet = bootstrap(Settings(db_url=url, master_secret=MASTER))
    yield fleet
    fleet.close()


def logged_in(fleet, email: str, role: str, partner_id: str | None = None) -> TestClient:
    accounts = fleet.accounts
    _, link = accounts.invite(email, role, partner_id, send=False)
    accounts.complete_link(link.split("token=")[1], "activate", PASSWORD, PASSWORD)
    client = TestClient(create_app(fleet))
    page = client.get("/login")
    client.post("/login", data={"email": email, "password": PASSWORD,
                                "csrf_token": csrf(page)})
    return client


def csrf(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def message(page) -> str:
    found = re.search(r'class="flash"[^>]*>([^<]+)', page.text)
    return found.group(1).replace("&#39;", "'") if found else ""


def test_operator_sets_up_a_program_and_the_partner_claims_and_sells(fleet):
    op = logged_in(fleet, "operateur@programme.example", "operator")
    token = csrf(op.get("/operator/partners"))
    page = op.post("/operator/programs", data={"csrf_token": token, "name": "Pass Région",
                                               "market_year": "2026", "max_amount": "600"})
    assert message(page).startswith("Programme ")
    program = re.search(r'<option value="([^"]+)">Pass Région', page.text).group(1)
    page = op.post("/operator/partners", data={"csrf_token": token, "name": "Auto-école Rivoli"})
    partner = str(page.url).rsplit("/", 1)[1]

    # A terminal allocated to the partner; the partner claims it, but only once an agreement
    # is signed.
    secrets = registry.register_device(fleet.uow(), fleet.keys, "esp32-gm65",
                                       datetime.now(UTC))
    page = op.post(f"/operator/terminals/{secrets.device_id}/allocate",
                   data={"csrf_token": token, "partner_id": partner})
    assert message(page) == f"Terminal {secrets.device_id} alloué à {partner}."
    admin = logged_in(fleet, "admin@rivoli.example", "partner_admin", partner)
    admin_token = csrf(admin.get("/partner/terminals"))
    claim = {"csrf_token": admin_token, "device_id": secrets.device_id,
             "code": tokens.format_claim_code(secrets.claim_code)}
    assert "convention signée" in message(admin.post("/partner/terminals/claim", data=claim))
    page = op.post(f"/operator/partners/{partner}/agreements", data={
        "csrf_token": token, "program_id": program, "category": "driving",
        "status": "requested"})
    agreement = re.search(r"/operator/agreements/([^/]+)/status", page.text).group(1)
    for status in ("accepted", "signed"):
        page = op.post(f"/operator/agreements/{agreement}/status", data={
            "csrf_token": token, "status": status, "partner_id": partner})
    assert "Signée" in message(page)
    typo = dict(claim, code=claim["code"][:-1] + ("A" if claim["code"][-1] != "A" else "B"))
    assert "Code mal saisi" in message(admin.post("/partner/terminals/claim", data=typo))
    wrong = dict(claim, code=tokens.format_claim_code(tokens.make_claim_code("AAAAAAAA")))
    assert "ne correspond pas" in message(admin.post("/partner/terminals/claim", data=wrong))
    page = admin.post("/partner/terminals/claim", data=claim)
    assert message(page) == f"Terminal {secrets.device_id} mis en service."
    assert "En service" in page.text
    # Asking the support desk for help about it opens an intervention the desk sees.
    page = admin.post(f"/partner/terminals/{secrets.device_id}/help", data={
        "csrf_token": admin_token, "category": "hardware_fault",
        "title": "Le scanner ne lit plus les codes"})
    assert re.match(r"Demande n° \d+ transmise", message(page))
    desk = fleet.support.store.interventions(device_id=secrets.device_id, limit=5)
    assert [(i.category, i.title) for i in desk] == [
        ("hardware_fault", "Le scanner ne lit plus les codes")]
    assert "introuvable" in message(admin.post("/partner/terminals/CTNOTMINE0001/help", data={
        "csrf_token": admin_token, "category": "assistance", "title": "Pas le mien"}))

    # A card with its pot, loaded; an ordered coupon series printed with QR codes.
    page = op.post("/operator/beneficiaries", data={
        "csrf_token": token, "program_id": program, "name": "Léa", "category_0": "driving",
        "balance_0": "100", "cap_0": ""})
    card = re.search(r"Carte (\d{12}) créée", message(page)).group(1)
    page = op.post(f"/operator/beneficiaries/{card}/load", data={
        "csrf_token": token, "category": "driving", "amount": "200"})
    assert message(page) == "Cagnotte Permis de conduire chargée : nouveau solde 300,00 €."
    page = op.post("/operator/series", data={"csrf_token": token, "program_id": program,
                                             "category": "driving", "values": "300; 500",
                                             "card": card})
    numbers = re.findall(r"Coupon : N° (\w{9})", page.text)  # a series' sheet says Coupon
    assert len(numbers) == 2 and "Coupon n°2 de la série" in page.text
    qr = op.get(f"/operator/qr/{numbers[0]}.png")
    assert qr.status_code == 200 and qr.content.startswith(b"\x89PNG")
    assert op.get("/operator/qr/NOTACODE.png").status_code == 404

    # The online till applies the series order and the ledger's messages.
    till = admin.get("/till")
    sale = {"csrf_token": csrf(till), "category": ""}

    def sell(code, amount):
        key = re.search(r'id="sale-key" value="([^"]+)"', admin.get("/till").text).group(1)
        return admin.post("/till/sale", data=dict(sale, code=code, amount=amount, sale_key=key),
                          headers={"HX-Request": "true"})

    refused = sell(numbers[1], "500")
    assert refused.headers["X-Sale"] == "declined"
    assert "Coupon précédent d'abord" in refused.text.replace("&#39;", "'")
    wrong = sell(numbers[0], "250")  # the coupon is worth 300: the refusal says so
    assert "Montant du coupon attendu" in wrong.text and "Montant du coupon : 300,00" in wrong.text
    first = sell(numbers[0], "300")
    assert first.headers["X-Sale"] == "approved", first.text
    assert sell(numbers[1], "500").headers["X-Sale"] == "approved"
    assert "Coupon déjà utilisé" in sell(numbers[1], "500").text

    # The night's settlement batches the day's sales; the partner cancels the batch as a whole
    # and its operations become cancellable again; the batches export as CSV.
    from fleet_server.reference_ledger import settlement

    day = settlement.paris_day(datetime.now(UTC))
    [batch] = settlement.run_settlement(fleet.session_factory, day)
    page = admin.get("/partner/reimbursements")
    assert batch.id in page.text and "Remboursement demandé" in page.text
    assert admin.get("/partner/operations").text.count("Remboursement déjà demandé") >= 2
    page = admin.post(f"/partner/reimbursements/{batch.id}/cancel",
                      data={"csrf_token": admin_token})
    assert message(page) == (f"Lot {batch.id} annulé : ses 2 opération(s) sont de nouveau "
                             "annulables.")
    assert "disabled" not in admin.get("/partner/operations").text
    page = admin.post("/partner/reimbursements/export", data={"csrf_token": admin_token})
    assert "remboursements-" in message(page)
    again = admin.post("/partner/reimbursements/export", data={"csrf_token": admin_token})
    assert "remboursements-" in message(again) and message(again) != message(page)
    exports = admin.get("/partner/exports").text
    names = re.findall(r"<td>(remboursements-[0-9-]+\.csv)</td>", exports)
    assert len(names) == 2 and len(set(names)) == 2  # two files, two names
    assert re.search(r'class="num">\d+ octets</td>', exports)
    # The till's sales say so in the terminal column; each operation names the beneficiary's
    # programme and card; the partner picks how many a page shows.
    ops_page = admin.get("/partner/operations").text
    assert '<td>Caisse en ligne</td>' in ops_page
    assert '<small class="muted">Pass Région' in ops_page and card in ops_page
    assert '<option value="10">10</option>' in ops_page
    assert '<option value="20" selected>' in ops_page
    one = admin.get("/partner/operations", params={"n": "10", "status": "approved"}).text
    assert '<option value="10" selected>' in one and "n=10" in one
    assert '<option value="20" selected>' in admin.get("/partner/operations?n=7").text
    page = admin.post("/partner/operations/export", data={"csrf_token": admin_token})
    export_id = re.search(r'/partner/exports/([^/]+)/download', page.text).group(1)
    lines = admin.get(f"/partner/exports/{export_id}/download").text.lstrip("\ufeff").splitlines()
    assert lines[0].endswith(";Terminal;N° lot;Remboursement demandé le;Programme;"
                             "Carte bénéficiaire")
    assert all(line.endswith(f";Pass Région;{card}") for line in lines[1:]) and len(lines) == 3
    assert all(";Caisse en ligne;" in line for line in lines[1:])
    # A partner asks for another agreement; the operator sees it to decide.
    page = admin.post("/partner/agreements", data={"csrf_token": admin_token,
                                                   "program_id": program, "category": "books"})
    assert "Demande de convention" in message(page)
    assert "Demandée" in op.get(f"/operator/partners/{partner}").text

    # Suspended by the operator: the till refuses with the terminal's words.
    op.post(f"/operator/partners/{partner}/suspend", data={"csrf_token": token,
                                                           "suspended": "1"})
    assert "Encaissement non autorisé" in sell(card, "10").text
    # Releases and campaigns: what the update service holds (none published here).
    updates = op.get("/operator/updates").text
    assert "Aucune campagne" in updates and "Aucune version publiée" in updates
    # And the operator's pages are the operator's only.
    assert admin.get("/operator/partners").status_code == 403
    assert admin.get("/operator/updates").status_code == 403


def test_fleet_user_cli_emails_the_activation_link(fleet, smtp, monkeypatch, capsys):  # noqa: F811
    from fleet_server.entrypoints.cli import main

    monkeypatch.setenv("FLEET_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("FLEET_SMTP_PORT", str(smtp.port))
    monkeypatch.setenv("FLEET_MASTER_SECRET", MASTER)
    url = str(fleet.engine.url.render_as_string(hide_password=False))
    assert main(["user", "add", "premier@programme.example", "--role", "operator",
                 "--db", url]) == 0
    link = smtp.link_for("premier@programme.example")
    assert link.startswith("/activate?token=")
    assert "token=" not in capsys.readouterr().out  # e-mailed, not printed
    assert main(["user", "add", "x@programme.example", "--role", "partner_admin",
                 "--db", url]) == 1  # a partner role without a partner
    assert main(["user", "list", "--db", url]) == 0
    assert "premier@programme.example" in capsys.readouterr().out


def test_demo_accounts_log_in_in_dev_mode_only(fleet, tmp_path):
    from fleet_server.demo import seed_demo
    from fleet_server.entrypoints.web.demo_accounts import DEMO_PASSWORD, seed_demo_accounts

    list(seed_demo(fleet, tmp_path / "codes"))
    assert len(seed_demo_accounts(fleet)) == 4
    assert len(seed_demo_accounts(fleet)) == 4  # a second run creates nothing new
    token, user = fleet.accounts.login("admin@librairie.demo.example", DEMO_PASSWORD,
                                               "127.0.0.1")
    assert (user.role, user.partner_id) == ("partner_admin", "PA-LIBRAIRIE")
    assert "password_hash" not in repr(user)
    fleet.settings = fleet.settings.model_copy(update={"mode": "prod"})
    assert "no demo accounts" in seed_demo_accounts(fleet)[0]
