"""Account links against the attacks of the security issue, through the console's pages on the
real databases (SQLite and PostgreSQL): an older reset link after a newer one was completed, a
disabled invitation re-enabling itself through its link or "mot de passe oublié", and the
console cancelling an invitation."""

import re

import pytest
from fastapi.testclient import TestClient

from fleet_server.adapters.mail_texts import NoticeMailer
from fleet_server.bootstrap import bootstrap
from fleet_server.entrypoints.app import create_app
from fleet_server.settings import Settings

PASSWORD = "Console-Links-2026!"
MASTER = "integration-test-master-secret-0123456789"


@pytest.fixture(params=["sqlite", "postgres"])
def site(request, tmp_path):
    url = (f"sqlite:///{tmp_path}/fleet.sqlite3" if request.param == "sqlite"
           else request.getfixturevalue("fresh_postgres_url"))
    fleet = bootstrap(Settings(db_url=url, master_secret=MASTER))
    outbox: list[tuple[str, str, str]] = []
    accounts = fleet.accounts
    accounts.send_notice = NoticeMailer(lambda *mail: outbox.append(mail))
    yield fleet, accounts, outbox
    fleet.close()


def csrf(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def token_in(body: str) -> str:
    return re.search(r"token=([\w-]+)", body).group(1)


def set_password(client: TestClient, path: str, token: str, password: str):
    page = client.get(f"{path}?token={token}")
    return client.post(path, data={"csrf_token": csrf(page), "token": token,
                                   "password": password, "confirm": password},
                       follow_redirects=False)


def log_in(client: TestClient, email: str, password: str):
    page = client.get("/login")
    return client.post("/login", data={"email": email, "password": password,
                                       "csrf_token": csrf(page)}, follow_redirects=False)


def forgot(client: TestClient, email: str):
    page = client.get("/password/forgot")
    client.post("/password/forgot", data={"email": email, "csrf_token": csrf(page)})


def test_completing_an_activation_link_spends_the_other_one(site):
    fleet, accounts, outbox = site
    _, activation = accounts.invite("anne@example.org", "operator", send=False)
    second_activation = accounts.new_link("anne@example.org").split("token=")[1]
    client = TestClient(create_app(fleet))
    assert set_password(client, "/activate", second_activation, PASSWORD).status_code == 303
    refused = set_password(client, "/activate", activation.split("token=")[1], "Autre!2026-xyz")
    assert refused.status_code == 400 and "déjà utilisé" in refused.text
    assert log_in(client, "anne@example.org", "Autre!2026-xyz").status_code == 401


def test_an_older_reset_link_is_dead_once_a_newer_one_set_the_password(site):
    fleet, accounts, outbox = site
    _, activation = accounts.invite("anne@example.org", "operator", send=False)
    accounts.complete_link(activation.split("token=")[1], "activate", PASSWORD, PASSWORD)
    client = TestClient(create_app(fleet))
    forgot(client, "anne@example.org")
    older = token_in(outbox[-1][2])
    forgot(client, "anne@example.org")
    newer = token_in(outbox[-1][2])
    assert older != newer
    assert set_password(client, "/password/reset", newer, "Nouveau!2026-abc").status_code == 303
    attack = set_password(client, "/password/reset", older, "Attaque!2026-xyz")
    assert attack.status_code == 400 and "déjà utilisé" in attack.text
    assert log_in(client, "anne@example.org", "Attaque!2026-xyz").status_code == 401
    assert log_in(client, "anne@example.org", "Nouveau!2026-abc").status_code == 303


def test_a_disabled_invitation_cannot_activate_itself(site):
    fleet, accounts, outbox = site
    operator, link = accounts.invite("op@example.org", "operator", send=False)
    accounts.complete_link(link.split("token=")[1], "activate", PASSWORD, PASSWORD)
    invited, invitation = accounts.invite("bob@example.org", "support", send=False)
    op = TestClient(create_app(fleet))
    assert log_in(op, "op@example.org", PASSWORD).status_code == 303
    page = op.get("/operator/users")
    assert "Annuler l&#39;invitation" in page.text or "Annuler l'invitation" in page.text
    page = op.post(f"/operator/users/{invited.id}/active",
                   data={"csrf_token": csrf(page), "active": "0"})
    assert "Invitation de bob@example.org annulée" in page.text.replace("&#39;", "'")
    assert "Invitation annulée" in page.text

    stranger = TestClient(create_app(fleet))
    # Its activation link is spent...
    opened = set_password(stranger, "/activate", invitation.split("token=")[1], PASSWORD)
    assert opened.status_code == 400
    # ... "mot de passe oublié" sends nothing (and says the same as for any address) ...
    sent = len(outbox)
    forgot(stranger, "bob@example.org")
    assert len(outbox) == sent
    # ... and a link made before the cancellation by the server's shell does not work either.
    assert log_in(stranger, "bob@example.org", PASSWORD).status_code == 401
    user = accounts.user(invited.id)
    assert user.disabled and not user.active and not user.activated

    # Switched on again, the invitation gets a fresh activation link by "mot de passe oublié".
    page = op.post(f"/operator/users/{invited.id}/active",
                   data={"csrf_token": csrf(op.get("/operator/users")), "active": "1"})
    forgot(stranger, "bob@example.org")
    assert len(outbox) == sent + 1
    assert set_password(stranger, "/activate", token_in(outbox[-1][2]),
                        PASSWORD).status_code == 303
    assert log_in(stranger, "bob@example.org", PASSWORD).status_code == 303


def test_disabling_an_account_spends_its_reset_links(site):
    fleet, accounts, outbox = site
    user, link = accounts.invite("carla@example.org", "support", send=False)
    accounts.complete_link(link.split("token=")[1], "activate", PASSWORD, PASSWORD)
    accounts.request_reset("carla@example.org")
    pending = token_in(outbox[-1][2])
    accounts.set_active(user.id, False)
    client = TestClient(create_app(fleet))
    assert set_password(client, "/password/reset", pending, "Reprise!2026-xyz").status_code == 400
    accounts.set_active(user.id, True)  # switched on again: the old link stays spent
    assert set_password(client, "/password/reset", pending, "Reprise!2026-xyz").status_code == 400
    assert log_in(client, "carla@example.org", PASSWORD).status_code == 303
