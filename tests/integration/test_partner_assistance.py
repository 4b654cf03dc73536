"""Partners follow their help requests (SQLite and PostgreSQL, pages over HTTP, a real local
SMTP server): the programme's support line from the settings, a request, a second one for the
same terminal joining it, the desk's note and status change e-mailed to the partner and shown
on its "Assistance" page; another partner sees none of it."""

import os
import re
import sys
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from fleet_server.bootstrap import bootstrap
from fleet_server.domain.partners import Partner
from fleet_server.entrypoints.app import create_app
from fleet_server.service_layer import registry
from fleet_server.settings import Settings

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
from console_browser import smtp  # noqa: E402, F401  (fixture: a real local SMTP server)

PASSWORD = "Assistance-Partenaire-2026!"


@pytest.fixture(params=["sqlite", "postgres"])
def fleet(request, tmp_path, smtp):  # noqa: F811
    url = (f"sqlite:///{tmp_path}/fleet.sqlite3" if request.param == "sqlite"
           else request.getfixturevalue("fresh_postgres_url"))
    fleet = bootstrap(Settings(
        db_url=url, master_secret="assistance-test-master-secret-0123456789",
        smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_from="assistance@programme.example",
        public_url="https://console.programme.example", support_phone="04 78 00 12 34",
        support_email="assistance@programme.example",
        support_hours="du lundi au samedi, de 9 h à 19 h"))
    yield fleet
    fleet.close()


def partner_with_terminal(fleet, name: str) -> tuple[str, str]:
    partner_id = fleet.ledger.create_partner(name)
    registry.add_partner(fleet.uow(), Partner(partner_id, name))
    device = registry.register_device(fleet.uow(), fleet.keys, "esp32-gm65",
                                      datetime.now(UTC)).device_id
    registry.assign_device(fleet.uow(), device, partner_id)
    registry.change_state(fleet.uow(), device, "activate")
    return partner_id, device


def logged_in(fleet, email: str, role: str, partner_id: str | None = None) -> TestClient:
    accounts = fleet.accounts
    _, link = accounts.invite(email, role, partner_id, send=False)
    accounts.complete_link(link.split("token=")[1], "activate", PASSWORD, PASSWORD)
    client = TestClient(create_app(fleet))
    token = csrf(client.get("/login").text)
    client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    return client


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def flash(page) -> str:
    found = re.search(r'class="flash"[^>]*>([^<]+)', page.text)
    return found.group(1).replace("&#39;", "'") if found else ""


def test_partners_follow_their_help_requests(fleet, smtp):  # noqa: F811
    shop, device = partner_with_terminal(fleet, "Librairie des Lilas")
    admin = logged_in(fleet, "admin@lilas.example", "partner_admin", shop)
    clerk_admin = logged_in(fleet, "second@lilas.example", "partner_admin", shop)
    page = admin.get("/partner/assistance")
    assert "04 78 00 12 34" in page.text and "assistance@programme.example" in page.text
    assert "du lundi au samedi, de 9 h à 19 h" in page.text
    assert "Aucune demande d'assistance." in page.text
    assert "04 78 00 12 34" in admin.get("/partner/terminals").text

    token = csrf(page.text)
    page = admin.post(f"/partner/terminals/{device}/help", data={
        "csrf_token": token, "category": "hardware_fault", "title": "Le scanner ne lit plus"})
    number = int(re.match(r"Demande n° (\d+) transmise", flash(page)).group(1))
    page = clerk_admin.post(f"/partner/terminals/{device}/help", data={
        "csrf_token": csrf(clerk_admin.get("/partner/terminals").text),
        "category": "assistance", "title": "Toujours rien ce matin"})
    assert flash(page) == (f"Ce terminal a déjà une demande en cours (n° {number}) : la vôtre "
                           "y est ajoutée.")
    assert len(fleet.support.store.interventions(device_id=device)) == 1

    # The desk answers and resolves: both people who asked are told by e-mail.
    agent = logged_in(fleet, "agent@programme.example", "support")
    desk_token = csrf(agent.get(f"/support/interventions/{number}").text)
    agent.post(f"/support/interventions/{number}/notes",
               data={"csrf_token": desk_token, "text": "Lecteur remplacé par colis demain."})
    got = [smtp.messages.get(timeout=20) for _ in range(2)]
    assert sorted(to[0] for to, _, _ in got) == ["admin@lilas.example", "second@lilas.example"]
    assert all(subject == f"Demande d'assistance n° {number} : nouvelle réponse"
               for _, subject, _ in got)
    assert "Lecteur remplacé par colis demain." in got[0][2]
    assert "https://console.programme.example/partner/assistance" in got[0][2]
    agent.post(f"/support/interventions/{number}/statut",
               data={"csrf_token": desk_token, "status": "resolved"})
    got = [smtp.messages.get(timeout=20) for _ in range(2)]
    assert {subject for _, subject, _ in got} == {f"Demande d'assistance n° {number} : résolue"}

    page = admin.get("/partner/assistance").text
    request_card = page[page.index(f'id="demande-{number}"'):]
    assert 'data-status="resolved"' in page and "Résolue" in request_card
    assert "Le scanner ne lit plus" in request_card
    assert "Lecteur remplacé par colis demain." in request_card
    assert "Toujours rien ce matin" in request_card
    assert "agent@programme.example" not in page  # the desk's people stay the desk's
    assert "· Assistance</small>" in request_card

    other_shop, _ = partner_with_terminal(fleet, "Théâtre du Port")
    other = logged_in(fleet, "admin@port.example", "partner_admin", other_shop)
    assert "Aucune demande d'assistance." in other.get("/partner/assistance").text
    assert smtp.messages.empty()
