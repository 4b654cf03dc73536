"""Attacks on the web console and the REST API, over HTTP on the real app and database: roles
on every operator endpoint, one partner reaching another's operations by id, state-changing
forms without their CSRF token, markup in names and notes, reused or expired account links,
export downloads outside the partner's own."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from fleet_stack import Stack
from test_web_console import PASSWORD, csrf, logged_in

from fleet_server.adapters.api_tokens import issue_token
from fleet_server.bootstrap import bootstrap
from fleet_server.domain.roles import OPERATOR
from fleet_server.entrypoints.app import create_app
from fleet_server.ledger.port import DebitRequest
from fleet_server.service_layer import registry
from fleet_server.settings import Settings

MASTER = "web-rest-attacks-master-secret-0123456789"
XSS = '<script>alert("x")</script>'
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture
def site(tmp_path):
    stack = Stack(None, f"sqlite:///{tmp_path}/fleet.sqlite3")
    stack.fleet = bootstrap(Settings(db_url=stack.db_url, master_secret=MASTER))
    stack.setup_program()
    stack.a = stack.partner("Librairie A " + XSS)
    stack.b = stack.partner("Librairie B")
    card = stack.beneficiary({"books": (5000, None)})
    stack.op_b = stack.ledger.debit(DebitRequest(
        "test:b:1", stack.b, card, 500, "books", datetime.now(UTC))).operation_id
    secrets = registry.register_device(stack.fleet.uow(), stack.fleet.keys, "esp32-gm65",
                                       datetime.now(UTC))
    registry.assign_device(stack.fleet.uow(), secrets.device_id, stack.a)
    stack.device = secrets.device_id
    yield stack
    stack.fleet.close()


def _routes(app):
    """Every route of the app with its full path (included routers unfolded)."""
    for route in app.routes:
        if isinstance(route, APIRoute):
            yield route
        else:
            contexts = getattr(route, "effective_route_contexts", None) or ()
            yield from (contexts() if callable(contexts) else contexts)


def _operator_only(route) -> bool:
    """Whether one of the route's dependencies is api.deps.require(OPERATOR) alone."""
    todo = list(route.dependant.dependencies)
    while todo:
        dep = todo.pop()
        cells = [c.cell_contents for c in (getattr(dep.call, "__closure__", None) or ())]
        if (OPERATOR,) in cells:
            return True
        todo += dep.dependencies
    return False


def _fill(path: str, values: dict) -> str:
    return re.sub(r"{(\w+)(:path)?}", lambda m: values.get(m.group(1), "X1"), path)


def test_support_and_partner_tokens_cannot_reach_operator_endpoints(site):
    app = create_app(site.fleet)
    http = TestClient(app)
    routes = [r for r in _routes(app) if r.path.startswith("/api/") and _operator_only(r)]
    assert len(routes) >= 15, [r.path for r in routes]
    for role, partner in (("support", None), ("partner_user", site.a),
                          ("partner_admin", site.a)):
        token = issue_token(site.fleet.session_factory, role, partner, f"t-{role}")
        for route in routes:
            for method in route.methods:
                r = http.request(method, _fill(route.path, {}),
                                 headers={"Authorization": f"Bearer {token}"})
                assert r.status_code == 403, (role, method, route.path, r.status_code)


def test_partner_a_cannot_read_or_cancel_partner_b_operations(site):
    http = TestClient(create_app(site.fleet))
    token = issue_token(site.fleet.session_factory, "partner_admin", site.a, "a-admin")
    auth = {"Authorization": f"Bearer {token}"}
    base = f"/api/v1/transactions/{site.op_b}"
    assert http.get(base, headers=auth).status_code in (403, 404)
    assert http.post(base + "/cancel", headers=auth).status_code in (403, 404)
    assert http.put(base + "/internal-reference", json={"reference": "mine"},
                    headers=auth).status_code in (403, 404, 422)
    web = logged_in(site.fleet, "admin-a@example.org", "partner_admin", site.a)
    token_a = csrf(web.get("/partner"))
    for action in ("cancel", "reference"):
        r = web.post(f"/partner/operations/{site.op_b}/{action}",
                     data={"csrf_token": token_a, "reference": "mine"})
        assert r.status_code in (200, 403, 404), (action, r.status_code)  # a refusal page
        assert "annulée : le montant" not in r.text and "enregistrée" not in r.text
    op = site.ledger.get_operation(site.op_b)
    assert op.status == "approved" and not getattr(op, "internal_reference", None)
    assert "mine" not in logged_in(site.fleet, "admin-b@example.org", "partner_admin",
                                   site.b).get("/partner/operations").text


def test_every_state_changing_form_needs_its_csrf_token(site):
    app = create_app(site.fleet)
    web = logged_in(site.fleet, "op@example.org", "operator")
    forms = [(m, r.path) for r in _routes(app) if not r.path.startswith("/api/")
             for m in (r.methods or set()) & UNSAFE]
    assert len(forms) >= 30, forms
    for method, path in forms:
        url = _fill(path, {"partner_id": site.a, "device_id": site.device})
        r = web.request(method, url, data={"csrf_token": "forged"}, follow_redirects=False)
        assert r.status_code in (401, 403), (method, path, r.status_code)
        r = web.request(method, url, data={}, follow_redirects=False)
        assert r.status_code in (401, 403), (method, path, r.status_code)


def test_names_and_notes_are_escaped_on_every_page(site):
    app = create_app(site.fleet)
    support = logged_in(site.fleet, "support@example.org", "support")
    page = support.get(f"/support/terminaux/{site.device}")
    support.post(f"/support/terminaux/{site.device}/interventions",
                 data={"csrf_token": csrf(page), "reason": XSS, "note": XSS, "summary": XSS})
    clients = {"operator": logged_in(site.fleet, "op@example.org", "operator"),
               "support": support,
               "partner": logged_in(site.fleet, "admin-a@example.org", "partner_admin", site.a)}
    pages = [r.path for r in _routes(app) if "GET" in (r.methods or ())
             and not r.path.startswith(("/api/", "/docs", "/redoc", "/openapi"))
             and not r.path.endswith(".png")]
    seen = 0
    for client in clients.values():
        for path in pages:
            r = client.get(_fill(path, {"partner_id": site.a, "device_id": site.device}))
            if r.status_code == 200 and "text/html" in r.headers.get("content-type", ""):
                seen += 1
                assert XSS not in r.text, path
                assert "<script>alert" not in r.text, path
    assert seen >= 20
    assert "&lt;script&gt;" in clients["operator"].get(f"/operator/partners/{site.a}").text


def test_activation_and_reset_links_are_single_use_and_expire(site):
    accounts = site.fleet.accounts
    http = TestClient(create_app(site.fleet))

    def complete(path, link):
        page = http.get(path + "?token=" + link.split("token=")[1])  # this site, not the URL's
        return http.post(path, data={"token": link.split("token=")[1], "password": PASSWORD,
                                     "confirm": PASSWORD, "csrf_token": csrf(page)},
                         follow_redirects=False)

    _, link = accounts.invite("new@example.org", "support", send=False)
    first = complete("/activate", link)
    assert first.status_code in (302, 303), first.text
    again = complete("/activate", link)
    assert again.status_code not in (302, 303)  # spent
    _, late = accounts.invite("late@example.org", "support", send=False)
    real_clock = accounts.clock
    accounts.clock = lambda: real_clock() + timedelta(hours=25)
    try:
        assert complete("/activate", late).status_code not in (302, 303)  # expired
    finally:
        accounts.clock = real_clock


def test_export_downloads_stay_within_the_partners_own(site):
    web_b = logged_in(site.fleet, "admin-b@example.org", "partner_admin", site.b)
    web_a = logged_in(site.fleet, "admin-a@example.org", "partner_admin", site.a)
    page = web_b.get("/partner/exports")
    web_b.post("/partner/exports", data={"csrf_token": csrf(page)})
    ids = re.findall(r"/partner/exports/([^/\"]+)/download", web_b.get("/partner/exports").text)
    for export_id in ids:  # B's own exports: A cannot fetch them by id
        assert web_a.get(f"/partner/exports/{export_id}/download").status_code == 404
    for bad in ("../../../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%2e%2e%2ffleet.sqlite3",
                "/etc/passwd", "..\\..\\fleet.sqlite3"):
        r = web_a.get(f"/partner/exports/{bad}/download")
        assert r.status_code in (400, 404) and "root:" not in r.text, bad
