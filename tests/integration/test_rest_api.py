"""The REST API over a real fleet server and reference ledger, on SQLite and PostgreSQL: who may
do what, one partner never sees another's data, filters and pages of operations, cancel before
and after settlement, CSV exports, and bad input that never becomes a 500."""

import argparse
import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from fleet_server.adapters.api_tokens import TokenRow, authenticate, issue_token
from fleet_server.adapters.db import Base
from fleet_server.bootstrap import bootstrap
from fleet_server.entrypoints.api.tokens import add_token_parser
from fleet_server.entrypoints.app import create_app
from fleet_server.ledger.port import DebitRequest
from fleet_server.reference_ledger.reference import ReferenceLedger
from fleet_server.reference_ledger.settlement import paris_day
from fleet_server.settings import Settings
from protocol import tokens

MASTER = "rest-api-test-master-secret-0123456789abcdef"
YEAR = 2026
V1 = "/api/v1"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/fleet.sqlite3"
    return request.getfixturevalue("fresh_postgres_url")


class World:
    """Two partners A and B, each with a signed "books" agreement, a terminal and tokens."""

    def __init__(self, fleet):
        self.fleet, self.http = fleet, TestClient(create_app(fleet))
        self.op = self.auth(issue_token(fleet.session_factory, "operator", None, "op"))
        self.program = self.call("POST", "/programs", self.op, name="Pass",
                                 market_year=YEAR).json()["program_id"]
        self.a, self.b = self.partner("Librairie A"), self.partner("Théâtre B")
        self.card = self.new_card()
        self.as_ = {"operator": self.op, "support": self.token("support")}
        for role in ("partner_admin", "partner_user"):
            self.as_[role] = self.token(role, self.a)
        self.b_admin = self.token("partner_admin", self.b)
        self.dev_a, self.dev_b = self.device(self.a), self.device(self.b)

    @staticmethod
    def auth(token):
        return {"Authorization": f"Bearer {token}"}

    def call(self, method, path, headers=None, params=None, **body):
        return self.http.request(method, V1 + path, headers=headers, params=params,
                                 json=body or None)

    def token(self, role, partner=None):
        r = self.call("POST", "/tokens", self.op, name=f"{role}-{secrets.token_hex(3)}",
                      role=role, partner_id=partner)
        assert r.status_code == 201, r.text
        return self.auth(r.json()["token"])

    def partner(self, name):
        pid = self.call("POST", "/partners", self.op, name=name, email="a@b.fr").json()
        pid = pid["partner_id"]
        agreement = self.call("POST", f"/partners/{pid}/agreements", self.op,
                              program_id=self.program, category="books", market_year=YEAR,
                              status="signed")
        assert agreement.status_code == 201, agreement.text
        return pid

    def new_card(self, balance=100_000):
        code = tokens.make_card("".join(secrets.choice("0123456789") for _ in range(11)))
        r = self.call("POST", "/beneficiaries", self.op, program_id=self.program,
                      card_code=code, pots=[{"category": "books", "balance_cents": balance}])
        assert r.status_code == 201, r.text
        return code

    def device(self, partner):
        device_id = self.call("POST", "/devices", self.op).json()["device_id"]
        assert self.call("POST", f"/devices/{device_id}/assign", self.op,
                         partner_id=partner).status_code == 200
        assert self.call("POST", f"/devices/{device_id}/activate", self.op).json()["state"] \
            == "active"
        return device_id

    def sell(self, partner, cents, device_id=None, code=None, ledger=None):
        result = (ledger or self.fleet.ledger).debit(DebitRequest(
            secrets.token_hex(8), partner, code or self.card, cents, "books", datetime.now(UTC),
            device_id))
        assert result.approved, result
        return result.operation_id


@pytest.fixture
def world(db_url):
    fleet = bootstrap(Settings(db_url=db_url, master_secret=MASTER, settlement_enabled=False))
    Base.metadata.create_all(fleet.engine)  # api_tokens, until the migration creates it
    yield World(fleet)
    fleet.close()


def test_openapi_lists_the_routes_and_the_bearer_scheme(world):
    schema = world.http.get("/openapi.json").json()
    for path in ("/devices", "/partners/{partner_id}/agreements", "/beneficiaries/{card_code}"
                 "/wallet", "/transactions", "/transactions/{operation_id}/cancel",
                 "/settlements/run", "/exports/operations.csv", "/tokens"):
        assert V1 + path in schema["paths"], path
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_missing_unknown_and_revoked_tokens_get_401(world):
    assert world.call("GET", "/devices").status_code == 401
    assert world.call("GET", "/devices", world.auth("not-a-token")).status_code == 401
    issued = world.call("POST", "/tokens", world.op, name="temp", role="support").json()
    headers = world.auth(issued["token"])
    assert world.call("GET", "/devices", headers).status_code == 200
    assert world.call("DELETE", "/tokens/temp", world.op).status_code == 204
    r = world.call("GET", "/devices", headers)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert world.call("DELETE", "/tokens/temp", world.op).status_code == 404


def test_a_token_never_starts_with_a_dash(world, monkeypatch):
    # `fleet support --token -x...` would take it for an option (seen: a CI run failed on one
    # token in 64); a token drawn with a leading dash is drawn again.
    from fleet_server.adapters import api_tokens

    drawn = iter(["-leading-dash", "plain-token"])
    monkeypatch.setattr(api_tokens.secrets, "token_urlsafe", lambda _n: next(drawn))
    token = issue_token(world.fleet.session_factory, "support", None, "dash")
    assert token == "plain-token"
    assert authenticate(world.fleet.session_factory, token).role == "support"


def test_only_the_hash_of_a_token_is_stored_and_the_cli_issues_and_revokes(world, capsys):
    parser = argparse.ArgumentParser()
    add_token_parser(parser.add_subparsers(), lambda p: p.add_argument("--db") and p)
    db = ["--db", world.fleet.settings.db_url]
    args = parser.parse_args(["token", "issue", "--role", "partner_admin", "--partner", world.a,
                              "--name", "cli", *db])
    assert args.func(args) == 0
    token = capsys.readouterr().out.strip()
    assert authenticate(world.fleet.session_factory, token).partner_id == world.a
    with world.fleet.session_factory() as s:
        row = s.scalar(select(TokenRow).where(TokenRow.name == "cli"))
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in repr([getattr(row, c.key) for c in TokenRow.__table__.columns])
    args = parser.parse_args(["token", "revoke", "cli", *db])
    assert args.func(args) == 0
    assert authenticate(world.fleet.session_factory, token) is None
    assert world.call("POST", "/tokens", world.op, name="x", role="partner_user"
                      ).status_code == 422  # a partner role names its partner
    assert world.call("POST", "/tokens", world.op, name="x", role="partner_user",
                      partner_id="NOPE").status_code == 404
    assert world.call("POST", "/tokens", world.op, name="op", role="support"
                      ).status_code == 409  # the name is taken


# role -> expected status, in the order operator, support, partner_admin, partner_user (of A).
MATRIX = [
    ("GET", "/devices", None, (200, 200, 200, 200)),
    ("GET", "/devices/{dev_a}", None, (200, 200, 200, 200)),
    ("POST", "/devices", {}, (201, 403, 403, 403)),
    ("POST", "/devices/{dev_b}/suspend", None, (200, 403, 403, 403)),
    ("GET", "/partners", None, (200, 200, 403, 403)),
    ("GET", "/partners/{a}", None, (200, 200, 200, 200)),
    ("GET", "/partners/{a}/agreements", None, (200, 403, 200, 200)),
    ("POST", "/partners/{a}/agreements", {"program_id": "{program}", "category": "sport",
                                          "market_year": YEAR}, (201, 403, 201, 403)),
    ("GET", "/beneficiaries/{card}/wallet", None, (200, 403, 403, 403)),
    ("POST", "/beneficiaries/{card}/pots/books/load", {"amount_cents": 100},
     (200, 403, 403, 403)),
    ("GET", "/transactions", None, (200, 403, 200, 200)),
    ("GET", "/transactions/{op_a}", None, (200, 403, 200, 200)),
    ("PUT", "/transactions/{op_a}/internal-reference", {"internal_reference": "F-1"},
     (200, 403, 200, 403)),
    ("POST", "/transactions", {"code": "{card}", "amount_cents": 100}, (403, 403, 201, 201)),
    ("GET", "/settlements", None, (200, 403, 200, 403)),
    ("GET", "/exports/operations.csv", None, (200, 403, 200, 403)),
    ("GET", "/exports/batches.csv", None, (200, 403, 200, 403)),
    ("POST", "/settlements/run", {"day": "2024-01-02"}, (201, 403, 403, 403)),
    ("GET", "/tokens", None, (200, 403, 403, 403)),
]


def test_every_role_gets_what_the_access_matrix_says(world):
    names = dict(dev_a=world.dev_a, dev_b=world.dev_b, a=world.a, card=world.card,
                 program=world.program, op_a=world.sell(world.a, 100, world.dev_a))
    wrong = []
    for method, path, body, expected in MATRIX:
        path = path.format(**names)
        body = {k: v.format(**names) if isinstance(v, str) else v
                for k, v in body.items()} if body is not None else None
        for role, want in zip(world.as_, expected, strict=True):
            got = world.http.request(method, V1 + path, headers=world.as_[role], json=body)
            if got.status_code != want:
                wrong.append(f"{role} {method} {path}: {got.status_code} not {want}")
    assert wrong == []


def test_a_partner_never_sees_another_partners_data(world):
    op_a = world.sell(world.a, 300, world.dev_a)
    op_b = world.sell(world.b, 400, world.dev_b)
    b = world.b_admin
    assert [o["id"] for o in world.call("GET", "/transactions", b).json()["items"]] == [op_b]
    assert [d["device_id"] for d in world.call("GET", "/devices", b).json()["items"]] == [
        world.dev_b]
    # Objects of A by their id: as if they did not exist.
    for method, path in (("GET", f"/transactions/{op_a}"), ("GET", f"/devices/{world.dev_a}"),
                         ("POST", f"/transactions/{op_a}/cancel")):
        assert world.call(method, path, b).status_code == 404, path
    r = world.call("PUT", f"/transactions/{op_a}/internal-reference", b, internal_reference="x")
    assert r.status_code == 404
    # A's data asked for by A's partner id: refused.
    for path, params in (("/transactions", {"partner_id": world.a}), ("/devices", {
            "partner_id": world.a}), ("/settlements", {"partner_id": world.a}),
            (f"/partners/{world.a}", None), (f"/partners/{world.a}/agreements", None)):
        assert world.call("GET", path, b, params).status_code == 403, path
    batches = world.call("POST", "/settlements/run", world.op,
                         day=paris_day(datetime.now(UTC)).isoformat()).json()
    batch_a = next(x["id"] for x in batches if x["partner_id"] == world.a)
    assert world.call("POST", f"/settlements/{batch_a}/cancel", b).status_code == 404
    assert [x["partner_id"] for x in world.call("GET", "/settlements", b).json()["items"]
            ] == [world.b]
    assert op_a not in world.call("GET", "/exports/operations.csv", b).text


def test_operations_filters_and_pages(world):
    ops = [world.sell(world.a, 100 + i, world.dev_a if i % 2 else None) for i in range(7)]
    world.call("PUT", f"/transactions/{ops[2]}/internal-reference", world.as_[
        "partner_admin"], internal_reference="Facture 17")
    world.call("POST", f"/transactions/{ops[3]}/cancel", world.as_["partner_admin"])
    yesterday = ReferenceLedger(world.fleet.session_factory,
                                clock=lambda: datetime.now(UTC) - timedelta(days=1))
    old = world.sell(world.a, 999, ledger=yesterday)
    admin = world.as_["partner_admin"]

    def ids(headers=admin, **params):
        return [o["id"] for o in world.call("GET", "/transactions", headers, params
                                            ).json()["items"]]

    assert set(ids()) == {*ops, old}
    assert ids(status="voided") == [ops[3]]
    assert set(ids(device_id=world.dev_a)) == {ops[1], ops[3], ops[5]}
    assert ids(search="facture") == [ops[2]]
    assert len(ids(search=world.card[:6])) == 8
    today = paris_day(datetime.now(UTC))
    assert ids(start=str(today - timedelta(days=1)), end=str(today - timedelta(days=1))) == [old]
    assert old not in ids(start=str(today))
    # A counter clerk sees today's operations only.
    assert old not in ids(world.as_["partner_user"])
    assert world.call("GET", f"/transactions/{old}", world.as_["partner_user"]
                      ).status_code == 404
    pages, offset = [], 0
    while offset is not None:
        page = world.call("GET", "/transactions", admin, {"limit": 3, "offset": offset}).json()
        pages.append([o["id"] for o in page["items"]])
        offset = page["next_offset"]
    assert [len(p) for p in pages] == [3, 3, 2]
    assert sum(pages, []) == ids()  # newest first, each once


def test_cancel_before_reimbursement_and_refused_after_settlement(world):
    admin, key = world.as_["partner_admin"], {"Idempotency-Key": "till-1:cancel-1"}
    op = world.sell(world.a, 1500)
    first = world.call("POST", f"/transactions/{op}/cancel", {**admin, **key})
    assert first.status_code == 200 and first.json()["status"] == "voided"
    assert first.json()["balance_cents"] == 100_000
    assert world.call("POST", f"/transactions/{op}/cancel", {**admin, **key}).json() == \
        first.json()  # a retry with the same key: the same answer, nothing moved twice
    again = world.call("POST", f"/transactions/{op}/cancel", admin)
    assert again.status_code == 409 and again.json()["detail"]["code"] == "already_voided"

    op = world.sell(world.a, 700)
    today = paris_day(datetime.now(UTC)).isoformat()
    [batch] = world.call("POST", "/settlements/run", world.op, day=today).json()
    assert (batch["count"], batch["total_cents"]) == (1, 700)
    refused = world.call("POST", f"/transactions/{op}/cancel", admin)
    assert refused.status_code == 409
    assert refused.json()["detail"]["code"] == "void_not_allowed"
    assert world.call("POST", f"/settlements/{batch['id']}/cancel", admin
                      ).json()["status"] == "cancelled"
    assert world.call("POST", f"/settlements/{batch['id']}/cancel", admin).status_code == 409
    assert world.call("POST", f"/transactions/{op}/cancel", admin).status_code == 200


def test_csv_exports_are_downloads_with_a_header_row(world):
    op = world.sell(world.a, 1234, world.dev_a)
    world.call("POST", "/settlements/run", world.op, day=paris_day(datetime.now(UTC)).isoformat())
    admin = world.as_["partner_admin"]
    r = world.call("GET", "/exports/operations.csv", admin)
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith("attachment; filename=")
    lines = r.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("N° opération;Date;")
    assert lines[1].startswith(op) and "12,34" in lines[1]
    r = world.call("GET", "/exports/batches.csv", admin)
    assert r.headers["content-type"].startswith("text/csv")
    assert r.content.decode("utf-8-sig").splitlines()[0].startswith("N° lot;Journée;")


def test_a_sale_is_recorded_once_per_idempotency_key_and_declines_carry_the_code(world):
    clerk = {**world.as_["partner_user"], "Idempotency-Key": "sale-1"}
    sale = world.call("POST", "/transactions", clerk, code=world.card, amount_cents=250)
    assert sale.status_code == 201 and sale.json()["balance_cents"] == 100_000 - 250
    assert world.call("POST", "/transactions", clerk, code=world.card, amount_cents=250
                      ).json() == sale.json()
    r = world.call("POST", "/transactions", world.as_["partner_user"], code=world.card,
                   amount_cents=1_000_000)
    assert r.status_code == 409 and r.json()["detail"]["code"] == "insufficient_balance"


BAD = [
    ("POST", "/transactions", {"code": "{card}", "amount_cents": 0}),
    ("POST", "/transactions", {"code": "{card}", "amount_cents": -5}),
    ("POST", "/transactions", {"code": "{card}", "amount_cents": 1.5}),
    ("POST", "/transactions", {"code": "{card}", "amount_cents": "12"}),
    ("POST", "/transactions", {"code": "{card}", "amount_cents": True}),
    ("POST", "/transactions", {"code": "{card}", "amount_cents": 10**30}),
    ("POST", "/transactions", {"code": "123456789012", "amount_cents": 100}),
    ("POST", "/transactions", {"code": "{card}", "amount_cents": 1, "tip": 1}),
    ("GET", "/transactions?limit=0", None), ("GET", "/transactions?offset=-1", None),
    ("GET", "/transactions?start=9999-12-31", None), ("GET", "/transactions?status=x", None),
    ("GET", "/transactions?start=2024-02-02&end=2024-02-01", None),
    ("GET", "/transactions?search=%00", None), ("GET", "/transactions/%00", None),
    ("GET", "/devices/" + "X" * 300, None), ("GET", "/transactions?bogus=1", None),
]


def test_bad_input_gets_a_4xx(world):
    for method, path, body in BAD:
        if body is not None:
            body = {k: v.format(card=world.card) if isinstance(v, str) else v
                    for k, v in body.items()}
        r = world.http.request(method, V1 + path, headers=world.as_["partner_admin"], json=body)
        assert 400 <= r.status_code < 500, (method, path, body, r.status_code, r.text)
    r = world.http.post(V1 + "/transactions", headers=world.as_["partner_admin"],
                        content=b"{not json")
    assert r.status_code == 422
    r = world.call("POST", "/beneficiaries", world.op, program_id="NOPE", card_code=world.card,
                   pots=[{"category": "books", "balance_cents": 1}])
    assert r.status_code in (404, 409)


json_values = st.recursive(st.none() | st.booleans() | st.integers()
                           | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                           max_leaves=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(params=st.dictionaries(st.sampled_from(
    ["status", "start", "end", "search", "limit", "offset", "device_id", "partner_id",
     "reimbursement_requested"]), st.text(max_size=20), max_size=4),
    body=st.dictionaries(st.sampled_from(["code", "amount_cents", "category", "pots",
                                          "card_code", "program_id", "name"]), json_values,
                         max_size=4))
def test_no_query_or_body_makes_a_500(world, params, body):
    for headers, method, path, json_body in (
            (world.as_["partner_admin"], "GET", "/transactions", None),
            (world.as_["partner_user"], "POST", "/transactions", body),
            (world.op, "POST", "/beneficiaries", body),
            (world.op, "GET", "/exports/operations.csv", None)):
        r = world.http.request(method, V1 + path, headers=headers, json=json_body,
                               params=params if json_body is None else None)
        assert r.status_code < 500, (path, params, json_body, r.text)


def test_vouchers_and_ordered_coupons_are_issued_then_used_in_order(world):
    number = tokens.make_voucher(tokens.random_payload32(8, secrets.token_bytes))
    issued = world.call("POST", "/vouchers", world.op, program_id=world.program, number=number,
                        category="books", value_cents=900, market_year=YEAR)
    assert issued.status_code == 201
    assert world.call("POST", "/vouchers", world.op, program_id=world.program, number=number,
                      category="books", value_cents=900, market_year=YEAR).status_code == 409
    coupons = [tokens.make_voucher(tokens.random_payload32(8, secrets.token_bytes))
               for _ in range(2)]
    series = world.call("POST", "/coupon-series", world.op, program_id=world.program,
                        category="books", market_year=YEAR, coupons=[
                            {"number": coupons[0], "value_cents": 300},
                            {"number": coupons[1], "value_cents": 500}])
    assert series.status_code == 201 and series.json()["numbers"] == coupons
    clerk = world.as_["partner_user"]
    assert world.call("POST", "/transactions", clerk, code=number, amount_cents=900
                      ).status_code == 201
    assert world.call("GET", f"/vouchers/{number}", world.op).json()["used"] is True
    early = world.call("POST", "/transactions", clerk, code=coupons[1], amount_cents=500)
    assert early.json()["detail"]["code"] == "coupon_out_of_order"
    assert world.call("POST", "/transactions", clerk, code=coupons[0], amount_cents=300
                      ).status_code == 201
