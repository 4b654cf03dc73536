"""Allocation, claim, re-key, BDK rotation and retirement over the REST API, on a real fleet
server and reference ledger, SQLite and PostgreSQL (docs/device-lifecycle.md)."""

import secrets
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet_server.adapters.api_tokens import issue_token
from fleet_server.adapters.db import Base
from fleet_server.bootstrap import bootstrap
from fleet_server.entrypoints.app import create_app
from fleet_server.service_layer import device_lifecycle
from fleet_server.settings import Settings
from protocol import tokens

MASTER = "lifecycle-test-master-secret-0123456789abcdef"
V1 = "/api/v1"
YEAR = 2026


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/fleet.sqlite3"
    return request.getfixturevalue("fresh_postgres_url")


class World:
    def __init__(self, fleet):
        self.fleet, self.http = fleet, TestClient(create_app(fleet))
        self.op = self.auth(issue_token(fleet.session_factory, "operator", None, "op"))
        self.program = self.call("POST", "/programs", self.op, name="Pass",
                                 market_year=YEAR).json()["program_id"]
        self.a = self.partner("Librairie A", "signed")
        self.b = self.partner("Théâtre B", "signed")
        self.unsigned = self.partner("Club C", "requested")
        self.admin = {p: self.token("partner_admin", p) for p in (self.a, self.b,
                                                                  self.unsigned)}

    @staticmethod
    def auth(token):
        return {"Authorization": f"Bearer {token}"}

    def call(self, method, path, headers=None, **body):
        return self.http.request(method, V1 + path, headers=headers, json=body or None)

    def token(self, role, partner=None):
        r = self.call("POST", "/tokens", self.op, name=f"{role}-{secrets.token_hex(3)}",
                      role=role, partner_id=partner)
        assert r.status_code == 201, r.text
        return self.auth(r.json()["token"])

    def partner(self, name, agreement_status):
        pid = self.call("POST", "/partners", self.op, name=name).json()["partner_id"]
        r = self.call("POST", f"/partners/{pid}/agreements", self.op, program_id=self.program,
                      category="books", market_year=YEAR, status=agreement_status)
        assert r.status_code == 201, r.text
        return pid

    def register(self, n=1):
        out = []
        for _ in range(n):
            r = self.call("POST", "/devices", self.op)
            assert r.status_code == 201, r.text
            out.append(r.json())
        return out

    def allocate(self, partner, *device_ids):
        return self.call("POST", "/devices/allocate", self.op, partner_id=partner,
                         device_ids=list(device_ids))

    def claim(self, partner, device_id, code, headers=None):
        return self.call("POST", "/devices/claim", headers or self.admin[partner],
                         device_id=device_id, claim_code=code)


@pytest.fixture
def world(db_url, tmp_path):
    settings = Settings(db_url=db_url, master_secret=MASTER, settlement_enabled=False,
                        broker_security_dir=str(tmp_path))
    fleet = bootstrap(settings)
    Base.metadata.create_all(fleet.engine)  # api_tokens, until a migration creates it
    yield World(fleet)
    fleet.close()


def detail(response):
    return response.json()["detail"]


def test_register_allocate_and_claim_with_the_printed_code(world):
    batch = world.register(3)
    assert all(tokens.parse_claim_code(d["claim_code"]) == d["claim_code"] for d in batch)
    r = world.allocate(world.a, *[d["device_id"] for d in batch])
    assert r.status_code == 200, r.text
    assert [d["state"] for d in r.json()] == ["assigned"] * 3
    printed = tokens.format_claim_code(batch[0]["claim_code"])
    r = world.claim(world.a, batch[0]["device_id"], printed)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "active" and r.json()["partner_id"] == world.a
    assert r.json()["claimed_at"] and r.json()["allocated_at"]
    listed = world.call("GET", "/devices", world.admin[world.a]).json()["items"]
    assert {d["device_id"]: d["state"] for d in listed}[batch[0]["device_id"]] == "active"


def test_bad_claims_are_refused_with_a_code_and_a_message(world):
    d, other = world.register(2)
    assert world.allocate(world.a, d["device_id"]).status_code == 200
    wrong = tokens.make_claim_code("ABCDEFGH")
    cases = [
        (world.claim(world.a, d["device_id"], "NOT-A-CODE"), 422, "claim_code_malformed"),
        (world.claim(world.a, d["device_id"], wrong), 403, "claim_code_wrong"),
        (world.claim(world.b, d["device_id"], d["claim_code"]), 409,
         "allocated_to_other_partner"),
        (world.claim(world.a, other["device_id"], other["claim_code"]), 409, "not_allocated"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.text
        assert detail(response)["code"] == code and detail(response)["message"]
    assert world.claim(world.a, d["device_id"], d["claim_code"]).status_code == 200
    reused = world.claim(world.a, d["device_id"], d["claim_code"])
    assert (reused.status_code, detail(reused)["code"]) == (409, "already_claimed")


def test_a_partner_without_a_signed_agreement_cannot_activate(world):
    d, = world.register()
    assert world.allocate(world.unsigned, d["device_id"]).status_code == 200
    r = world.claim(world.unsigned, d["device_id"], d["claim_code"])
    assert r.status_code == 409 and detail(r)["code"] == "no_signed_agreement"
    assert "agreement" in detail(r)["message"]


def test_only_partner_admins_claim_and_only_operators_allocate(world):
    d, = world.register()
    user = world.token("partner_user", world.a)
    assert world.call("POST", "/devices/allocate", world.admin[world.a], partner_id=world.a,
                      device_ids=[d["device_id"]]).status_code == 403
    assert world.claim(world.a, d["device_id"], d["claim_code"], headers=user).status_code \
        == 403
    assert world.claim(world.a, d["device_id"], d["claim_code"], headers=world.op).status_code \
        == 403


def test_double_allocation_and_unknown_devices_are_refused(world):
    d, = world.register()
    assert world.allocate(world.a, d["device_id"]).status_code == 200
    r = world.allocate(world.b, d["device_id"])
    assert r.status_code == 409 and detail(r)["code"] == "already_allocated"
    assert detail(r)["device_id"] == d["device_id"]
    r = world.allocate(world.b, tokens.make_device_id("ZZZZZZZZ"))
    assert r.status_code == 404 and detail(r)["code"] == "device_unknown"
    assert world.allocate(world.b).status_code == 422  # no device at all
    assert world.call("POST", "/devices/allocate", world.op, partner_id=world.b,
                      device_ids=["../etc"]).status_code == 422


def test_guessing_is_bounded_per_partner(world):
    d, = world.register()
    world.allocate(world.a, d["device_id"])
    for i in range(device_lifecycle.MAX_CLAIM_FAILURES):
        r = world.claim(world.a, d["device_id"], tokens.make_claim_code(f"GAESS{i:03d}"))
        assert r.status_code == 403
    r = world.claim(world.a, d["device_id"], d["claim_code"])
    assert r.status_code == 429 and detail(r)["code"] == "claim_attempts_exceeded"


def test_rekey_and_bdk_rotation_by_the_operator(world):
    d, = world.register()
    r = world.call("POST", f"/devices/{d['device_id']}/rekey", world.op)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["current_key_id"] == d["initial_key_id"] and not body["sent"]  # no broker
    assert body["pending_key_id"] != d["initial_key_id"]
    again = world.call("POST", f"/devices/{d['device_id']}/rekey", world.op).json()
    assert again["pending_key_id"] == body["pending_key_id"]
    assert world.call("POST", f"/devices/{d['device_id']}/rekey",
                      world.admin[world.a]).status_code == 403
    r = world.call("POST", "/keys/bdk-rotations", world.op, bdk_id="0000b001")
    assert r.status_code == 201 and r.json() == {"bdk_id": "0000B001"}
    assert world.register()[0]["initial_key_id"].startswith("0000B001")
    assert world.call("POST", "/keys/bdk-rotations", world.op,
                      bdk_id="0000B001").status_code == 409
    assert world.call("POST", "/keys/bdk-rotations", world.op, bdk_id="xyz").status_code == 422


def test_retirement_refuses_claim_allocation_rekey_and_revokes_at_the_broker(world, tmp_path):
    d, = world.register()
    world.allocate(world.a, d["device_id"])
    r = world.call("POST", f"/devices/{d['device_id']}/retire", world.op)
    assert r.status_code == 200 and r.json()["state"] == "retired"
    revoked = (Path(tmp_path) / "revoked-devices.txt").read_text().split()
    assert revoked == [d["device_id"]]
    assert f"user {d['device_id']}" in (Path(tmp_path) / "acl").read_text()
    for response in (world.claim(world.a, d["device_id"], d["claim_code"]),
                     world.allocate(world.b, d["device_id"])):
        assert response.status_code == 409 and detail(response)["code"] == "device_retired"
    assert world.call("POST", f"/devices/{d['device_id']}/rekey", world.op).status_code == 409


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(code=st.text(max_size=80), device=st.text(max_size=30))
def test_hostile_claims_get_a_4xx_never_a_500(world, code, device):
    r = world.http.post(V1 + "/devices/claim", headers=world.admin[world.b],
                        json={"device_id": device, "claim_code": code})
    assert r.status_code in (403, 409, 422, 429), r.text
