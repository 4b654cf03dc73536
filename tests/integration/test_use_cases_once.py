"""Each command is one service-layer use case that the REST API, the web console and the CLI
all call: a front end that does the work itself (and skips, say, the broker revocation or a
check) fails here."""

import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from test_web_console import csrf, logged_in, message

from fleet_server.adapters.api_tokens import issue_token
from fleet_server.bootstrap import bootstrap
from fleet_server.domain.partners import Partner
from fleet_server.entrypoints.app import create_app
from fleet_server.entrypoints.cli import main as fleet_cli
from fleet_server.reference_ledger.reference import PotView
from fleet_server.service_layer import (
    device_lifecycle,
    online_till,
    operations,
    partners,
    registry,
)
from fleet_server.settings import Settings
from protocol import tokens

MASTER = "use-cases-once-master-secret-0123456789"


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    monkeypatch.setenv("FLEET_MASTER_SECRET", MASTER)  # for the CLI's own bootstrap
    fleet = bootstrap(Settings(db_url=f"sqlite:///{tmp_path}/fleet.sqlite3",
                               master_secret=MASTER, settlement_enabled=False))
    registry.add_partner(fleet.uow(), Partner("P1", "Librairie des Lilas"))
    yield fleet
    fleet.close()


def _api(fleet) -> TestClient:
    token = issue_token(fleet.session_factory, "operator", None, "ops")
    return TestClient(create_app(fleet), headers={"Authorization": f"Bearer {token}"})


def _active_terminal(fleet) -> str:
    device_id = registry.register_device(fleet.uow(), fleet.keys, "esp32-gm65",
                                         datetime.now(UTC)).device_id
    registry.assign_device(fleet.uow(), device_id, "P1")
    registry.change_state(fleet.uow(), device_id, "activate")
    return device_id


def test_every_front_end_changes_a_terminal_through_the_one_use_case(fleet, monkeypatch):
    api, console = _api(fleet), logged_in(fleet, "ops@programme.example", "operator")
    by_api, by_console, by_cli = (_active_terminal(fleet) for _ in range(3))
    calls = []
    real = device_lifecycle.change_state

    def spy(uow, device_id, action, now=None, broker=None):
        calls.append((device_id, action, broker is not None))
        return real(uow, device_id, action, now, broker)

    monkeypatch.setattr(device_lifecycle, "change_state", spy)
    url = fleet.engine.url.render_as_string(hide_password=False)
    for action in ("suspend", "resume", "retire"):
        assert api.post(f"/api/v1/devices/{by_api}/{action}").status_code == 200
        token = csrf(console.get("/operator/terminals"))
        page = console.post(f"/operator/terminals/{by_console}/state",
                            data={"action": action, "csrf_token": token})
        assert page.status_code == 200
        assert fleet_cli(["device", action, by_cli, "--db", url]) == 0
    # Each front end, each action, with the broker's access control (the revocation).
    assert calls == [(device, action, True) for action in ("suspend", "resume", "retire")
                     for device in (by_api, by_console, by_cli)]
    with fleet.uow() as uow:
        assert {uow.devices.get(d).state for d in (by_api, by_console, by_cli)} == {"retired"}


def test_every_front_end_creates_a_partner_through_the_one_use_case(fleet, monkeypatch,
                                                                    capsys):
    api, console = _api(fleet), logged_in(fleet, "ops@programme.example", "operator")
    url = fleet.engine.url.render_as_string(hide_password=False)
    calls = []
    real = partners.create_partner

    def spy(uow_factory, ledger_directory, new, now):
        calls.append(ledger_directory is not None)  # the reference ledger gets its record
        return real(uow_factory, ledger_directory, new, now)

    monkeypatch.setattr(partners, "create_partner", spy)

    def console_form(**fields):
        token = csrf(console.get("/operator/partners"))
        return message(console.post("/operator/partners", data={"csrf_token": token,
                                                                 **fields}))

    # A phone number too short to call: the API's field type let it through before.
    r = api.post("/api/v1/partners", json={"name": "Librairie", "phone": "12"})
    assert r.status_code == 422 and r.json()["detail"]["code"] == "phone_invalid"
    assert console_form(name="Librairie", phone="12") == "Téléphone invalide."
    assert fleet_cli(["partner", "PX", "Librairie", "--phone", "12", "--db", url]) == 1
    assert "(phone_invalid)" in capsys.readouterr().err
    # Accepted alike.
    assert api.post("/api/v1/partners", json={"name": "Théâtre"}).status_code == 201
    assert console_form(name="Cinéma").startswith("Partenaire PA")
    assert fleet_cli(["partner", "PX", "Musée", "--db", url]) == 0
    assert calls == [True] * 6
    with fleet.uow() as uow:
        assert {"Théâtre", "Cinéma", "Musée"} <= {p.name for p in uow.partners.list()}
    assert fleet_cli(["partner", "PX", "Musée", "--db", url]) == 1
    assert "(partner_exists)" in capsys.readouterr().err


def test_the_api_and_the_online_till_record_a_sale_through_the_one_use_case(fleet, monkeypatch):
    token = issue_token(fleet.session_factory, "partner_user", "P1", "till")
    api = TestClient(create_app(fleet), headers={"Authorization": f"Bearer {token}"})
    clerk = logged_in(fleet, "caisse@lilas.example", "partner_user", "P1")
    calls = []
    real = online_till.record_sale

    def spy(uow_factory, ledger, partner_id, *rest):
        calls.append(partner_id)
        return real(uow_factory, ledger, partner_id, *rest)

    monkeypatch.setattr(online_till, "record_sale", spy)
    card = tokens.make_card("12345678901")  # well formed, unknown to the ledger

    def till_sale() -> str:
        page = clerk.get("/till")
        key = re.search(r'name="sale_key" id="sale-key" value="([^"]+)"', page.text).group(1)
        page = clerk.post("/till/sale", data={"csrf_token": csrf(page), "code": card,
                                              "amount": "5", "sale_key": key})
        return re.search(r'data-code="([^"]*)"', page.text).group(1)

    declined = api.post("/api/v1/transactions", json={"code": card, "amount_cents": 500})
    assert declined.status_code == 409
    assert till_sale() == declined.json()["detail"]["code"]
    assert calls == ["P1", "P1"]
    with fleet.uow() as uow:  # a suspended partner: refused alike, before the ledger
        uow.partners.get("P1").suspended = True
        uow.commit()
    r = api.post("/api/v1/transactions", json={"code": card, "amount_cents": 500})
    assert r.status_code == 409 and r.json()["detail"]["code"] == "partner_cannot_pay"
    assert till_sale() == "partner_cannot_pay"


def test_the_api_and_the_console_cancel_through_the_one_use_case(fleet, monkeypatch):
    ledger = fleet.ledger
    program = ledger.create_program("Pass", 2026)
    ledger.create_partner("Librairie des Lilas", partner_id="P1")
    ledger.create_agreement("P1", program, "books", 2026, "signed")
    card = tokens.make_card("97310000042")
    ledger.create_beneficiary(program, card, [PotView("books", 10_000)])
    by_api, by_console = (online_till.record_sale(
        fleet.uow, ledger, "P1", tokens.parse_token(card)[1], 500, "books", f"setup-{n}",
        datetime.now(UTC)).operation_id for n in range(2))
    token = issue_token(fleet.session_factory, "partner_admin", "P1", "admin")
    api = TestClient(create_app(fleet), headers={"Authorization": f"Bearer {token}"})
    admin = logged_in(fleet, "admin@lilas.example", "partner_admin", "P1")
    calls = []
    real = operations.cancel_operation

    def spy(ledger, partner_id, operation_id, key, now):
        calls.append(operation_id)
        return real(ledger, partner_id, operation_id, key, now)

    monkeypatch.setattr(operations, "cancel_operation", spy)
    assert api.post(f"/api/v1/transactions/{by_api}/cancel").json()["status"] == "voided"
    page = admin.post(f"/partner/operations/{by_console}/cancel",
                      data={"csrf_token": csrf(admin.get("/partner/operations"))})
    assert message(page).startswith(f"Opération {by_console} annulée")
    assert calls == [by_api, by_console]
    again = api.post(f"/api/v1/transactions/{by_api}/cancel")
    assert again.status_code == 409 and again.json()["detail"]["code"] == "already_voided"
