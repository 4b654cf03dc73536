"""The support desk pages over HTTP (no browser): login, roles, the pages render with live
data, commands ask for a reason, CSRF is required, and nothing of the partners' money shows.
The browser journey on real firmware is tests/e2e/test_support_console.py."""

import re
import uuid

import pytest
from fastapi.testclient import TestClient
from fleet_stack import Stack
from polling import eventually
from test_support_desk import CommandTerminal

from fleet_server.entrypoints.app import create_app

pytestmark = [pytest.mark.broker]
PASSWORD = "Bureau-Support-2026!"


def make_account(fleet, role: str, partner_id: str | None = None) -> str:
    accounts = fleet.accounts
    email = f"{role}-{uuid.uuid4().hex[:6]}@desk.example"
    _user, link = accounts.invite(email, role, partner_id, "Agent " + role, send=False)
    accounts.complete_link(link.split("token=")[1], "activate", PASSWORD, PASSWORD)
    return email


def login(http: TestClient, email: str) -> str:
    page = http.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = http.post("/login", data={"email": email, "password": PASSWORD,
                                  "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return token


def session_csrf(http: TestClient, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', http.get(path).text).group(1)


@pytest.fixture
def world(mosquitto, tmp_path):
    stack = Stack(mosquitto.url, f"sqlite:///{tmp_path}/fleet.sqlite3").start()
    stack.setup_program()
    shop = stack.partner("Librairie des Lilas")
    wire = stack.terminal(shop)
    wire.close()
    terminal = CommandTerminal(mosquitto, wire.wire.device_id,
                               stack.fleet.keys.command_key(wire.wire.device_id, 1))
    yield stack, terminal, shop
    terminal.close()
    stack.stop()


def test_an_agent_finds_a_terminal_runs_a_diagnostic_and_opens_an_intervention(world):
    stack, terminal, _ = world
    http = TestClient(create_app(stack.fleet))
    email = make_account(stack.fleet, "support")
    login(http, email)
    terminal.heartbeat(rssi=-71)
    dev = terminal.dev
    eventually(lambda: http.get("/support", params={"q": "lilas"}).text,
               until=lambda t: dev in t and "En ligne" in t)
    assert "Alertes" in http.get("/support/alertes").text
    page = http.get(f"/support/terminaux/{dev}")
    assert page.status_code == 200 and "Librairie des Lilas" in page.text
    assert "<svg" in page.text and "Force du signal" in page.text
    csrf = session_csrf(http, f"/support/terminaux/{dev}")
    url = f"/support/terminaux/{dev}/commandes"
    no_reason = http.post(url, data={"name": "diagnostics", "reason": " ",
                                     "csrf_token": csrf}, follow_redirects=False)
    assert no_reason.status_code == 303 and stack.fleet.support.store.commands() == []
    forged = http.post(url, data={"name": "diagnostics", "reason": "écran noir",
                                  "csrf_token": "x" * 43})
    assert forged.status_code == 403
    r = http.post(url, data={"name": "diagnostics", "reason": "écran noir",
                             "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    live = eventually(lambda: http.get(f"/support/terminaux/{dev}/direct").text,
                      until=lambda t: 'data-state="succeeded"' in t)
    assert 'data-check="network"' in live and "OK" in live
    r = http.post(f"/support/terminaux/{dev}/interventions",
                  data={"category": "assistance", "title": "Appel du partenaire",
                        "note": "rappeler à 14 h", "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    page = http.get(r.headers["location"])
    assert "Appel du partenaire" in page.text and "rappeler à 14 h" in page.text
    audit = stack.fleet.support.store.audit_log(dev)
    assert {(e.actor, e.action) for e in audit} == {(email, "command:diagnostics"),
                                                    (email, "intervention:open")}


def test_partners_cannot_reach_the_desk_and_agents_see_no_money(world):
    stack, terminal, shop = world
    http = TestClient(create_app(stack.fleet))
    login(http, make_account(stack.fleet, "partner_admin", shop))
    assert http.get("/support").status_code == 403
    assert http.get(f"/support/terminaux/{terminal.dev}").status_code == 403
    agent = TestClient(create_app(stack.fleet))
    login(agent, make_account(stack.fleet, "support"))
    assert agent.get("/partner/operations").status_code in (403, 404)
    assert agent.get("/support/terminaux/CTNOPE").status_code == 404
    assert agent.get("/support/interventions/99999999999").status_code in (404, 422)
    anonymous = TestClient(create_app(stack.fleet))
    r = anonymous.get("/support", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


ENGLISH = re.compile(r"\b(power_on|watchdog|fault|active|offline|online|unresponsive|status|"
                     r"reboot|error|sales|command|update|alert|bad_mac|drift_s|free)\b")


def visible_text(html: str) -> str:
    """What a reader sees: no tags, no attribute values."""
    return re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S))


def test_the_terminal_page_speaks_french_states_history_and_reboot_reasons(world):
    stack, terminal, _ = world
    http = TestClient(create_app(stack.fleet))
    login(http, make_account(stack.fleet, "support"))
    dev = terminal.dev
    terminal.heartbeat(boots=2, rst="power_on")
    eventually(lambda: http.get(f"/support/terminaux/{dev}/direct").text,
               until=lambda t: "mise sous tension" in t)
    terminal.heartbeat(boots=3, rst="watchdog", scn="fault", up=5)
    desk = stack.fleet.support
    eventually(lambda: (desk.status.flush(), desk.store.timeline(dev))[1],
               until=lambda events: {e.kind for e in events} >= {"reboot", "error"})
    page = http.get(f"/support/terminaux/{dev}").text
    text = visible_text(page)
    assert "(en service)" in text and "chien de garde" in text and "lecteur : en panne" in text
    assert "Redémarrage" in text and "Erreur" in text and "en panne" in text
    assert ENGLISH.findall(text) == []
    assert ENGLISH.findall(visible_text(http.get("/support").text)) == []
    found = http.get("/support", params={"q": "LIBRAIRIE  des lîlas"}).text
    assert f'data-device="{dev}"' in found  # accents, case and spaces do not matter


def test_a_form_refused_before_the_page_code_gets_a_french_page(world):
    stack, terminal, _ = world
    http = TestClient(create_app(stack.fleet))
    login(http, make_account(stack.fleet, "support"))
    csrf = session_csrf(http, f"/support/terminaux/{terminal.dev}")
    r = http.post(f"/support/terminaux/{terminal.dev}/commandes",
                  data={"name": "get_logs", "reason": "voir", "lines": "999",
                        "csrf_token": csrf})
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert "Formulaire refusé : vérifiez « lignes »" in r.text.replace("&#34;", '"')
    assert "should be" not in r.text
    api = http.post(f"/api/v1/support/terminals/{terminal.dev}/commands", json={})
    assert api.headers["content-type"].startswith("application/json")  # the API's own
