"""CSRF: every unsafe request of a logged-in page needs the session's token; forms before login
need the double-submit cookie. Checked through the real dependencies on a small app."""

import re
from types import SimpleNamespace
from typing import Annotated

import pytest
from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.testclient import TestClient
from web_fakes import make_service, token_of

from fleet_server.entrypoints.web import include_web
from fleet_server.entrypoints.web.deps import SESSION_COOKIE, WebUser, require_user
from fleet_server.settings import Settings

PASSWORD = "Bonjour!2026x"


@pytest.fixture
def client():
    service, store, outbox, clock = make_service()
    app = FastAPI()
    app.state.fleet = SimpleNamespace(accounts=service, settings=Settings())
    probe = APIRouter()

    @probe.post("/probe")
    def post_probe(user: Annotated[WebUser, require_user()],
                   note: Annotated[str, Form()] = ""):
        return {"who": user.email, "note": note}

    @probe.get("/probe")
    def get_probe(request: Request, user: Annotated[WebUser, require_user()]):
        return {"csrf": request.state.csrf_token}

    app.include_router(probe)
    include_web(app)
    _, link = service.invite("clerk@example.org", "operator")
    service.complete_link(token_of(link), "activate", PASSWORD, PASSWORD)
    with TestClient(app) as c:
        c.service = service
        yield c


def login(c) -> str:
    token, _ = c.service.login("clerk@example.org", PASSWORD, "127.0.0.1")
    c.cookies.set(SESSION_COOKIE, token)
    return c.get("/probe").json()["csrf"]


def test_post_without_token_is_refused(client):
    login(client)
    response = client.post("/probe", data={"note": "x"})
    assert response.status_code == 403
    assert "CSRF" in response.text


def test_post_with_another_token_is_refused(client):
    csrf = login(client)
    wrong = csrf[:-1] + ("A" if csrf[-1] != "A" else "B")
    assert client.post("/probe", data={"csrf_token": wrong}).status_code == 403
    assert client.post("/probe", headers={"X-CSRF-Token": wrong}).status_code == 403


def test_post_with_the_session_token_passes_as_field_or_header(client):
    csrf = login(client)
    assert client.post("/probe", data={"csrf_token": csrf, "note": "a"}).json() == {
        "who": "clerk@example.org", "note": "a"}
    assert client.post("/probe", data={"note": "b"},
                       headers={"X-CSRF-Token": csrf}).status_code == 200


def test_token_of_one_session_is_refused_in_another(client):
    first = login(client)
    login(client)  # a second session (another browser): another token
    assert client.post("/probe", data={"csrf_token": first}).status_code == 403


def test_without_session_a_post_is_401_and_a_get_redirects_to_login(client):
    assert client.post("/probe", data={"csrf_token": "x"}).status_code == 401
    response = client.get("/probe", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/probe"


def test_login_form_needs_its_double_submit_cookie(client):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    assert client.cookies.get("fleet_csrf") == token
    form = {"email": "clerk@example.org", "password": PASSWORD}
    assert client.post("/login", data={**form, "csrf_token": "forged"}).status_code == 403
    client.cookies.delete("fleet_csrf")
    assert client.post("/login", data={**form, "csrf_token": token}).status_code == 403
    client.cookies.set("fleet_csrf", token)
    response = client.post("/login", data={**form, "csrf_token": token},
                           follow_redirects=False)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")


def test_login_redirects_only_to_a_path_of_this_site(client):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = client.post("/login", data={
        "email": "clerk@example.org", "password": PASSWORD, "csrf_token": token,
        "next": "//evil.example/steal"}, follow_redirects=False)
    assert response.headers["location"] == "/operator/partners"
