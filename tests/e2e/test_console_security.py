"""The console's walls, in a browser against the real server, broker, SMTP server and database:
a second partner never sees the first one's operations or exports (pages and REST API alike);
a wrong CSRF token, a forged cross-site post and too many failed logins are refused; a
forgotten password is reset through the e-mailed link, weak passwords refused."""

import httpx
import pytest
from console_browser import (
    console_site,
    flash,
    launch_chromium,
    login,
    set_password,
    smtp,  # noqa: F401  (fixture)
)

from fleet_server.adapters.api_tokens import issue_token
from fleet_server.adapters.sql_partner_data import SqlPartnerDataStore
from fleet_server.ledger import exports

pytestmark = pytest.mark.broker
PASSWORD = "Deux-Partenaires-2026!"


@pytest.fixture
def site(tmp_path, mosquitto, smtp, monkeypatch):  # noqa: F811
    with console_site(mosquitto.url, f"sqlite:///{tmp_path}/fleet.sqlite3", smtp,
                      monkeypatch) as site:
        yield site


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        yield browser
        browser.close()


def admin_of(site, partner_id: str, email: str) -> str:
    _, link = site.accounts.invite(email, "partner_admin", partner_id, send=False)
    site.accounts.complete_link(link.split("token=")[1], "activate", PASSWORD, PASSWORD)
    return email


def csrf_of(page) -> str:
    return page.get_attribute("input[name=csrf_token]", "value")


def test_a_second_partner_never_sees_the_first_ones_data(site, browser):
    stack = site.stack
    first, second = stack.partner("Théâtre du Lac"), stack.partner("Club de Tennis")
    admin_of(site, first, "admin@theatre.example")
    admin_of(site, second, "admin@tennis.example")
    card = stack.beneficiary({"books": (3000, None)})
    terminal = stack.terminal(first)
    try:
        operation = terminal.sale(card, 900, "books")[1]["op"]
    finally:
        terminal.close()
    export = SqlPartnerDataStore(stack.fleet.session_factory).add_export(
        first, "operations.csv", exports.operations_csv(
            [stack.ledger.get_operation(operation)]), 1, None,
        stack.ledger.get_operation(operation).created_at)

    page = browser.new_page()
    login(page, site.base, "admin@tennis.example", PASSWORD)
    page.wait_for_url("**/partner")
    assert page.inner_text("#sales-count") == "0" and operation not in page.content()
    page.goto(site.base + "/partner/operations?q=" + operation)
    assert "Aucune opération ne correspond" in page.inner_text("main")
    assert page.goto(f"{site.base}/partner/exports/{export.id}/download").status == 404
    # Posting to the first partner's operation by its number: as if it did not exist.
    token = csrf_of(page)
    for action, data in (("cancel", {}), ("reference", {"reference": "piratage"})):
        reply = page.request.post(f"{site.base}/partner/operations/{operation}/{action}",
                                  form={"csrf_token": token, **data})
        assert reply.ok and "introuvable" in reply.text()
    assert page.request.post(f"{site.base}/partner/exports/{export.id}/delete",
                             form={"csrf_token": token}).status == 404
    op = stack.ledger.get_operation(operation)
    assert (op.status, op.internal_reference) == ("approved", None)

    # The REST API draws the same line for the second partner's token.
    api_token = issue_token(stack.fleet.session_factory, "partner_admin", second, "tennis")
    with httpx.Client(base_url=site.base + "/api/v1",
                      headers={"Authorization": f"Bearer {api_token}"}) as api:
        assert api.get(f"/transactions/{operation}").status_code == 404
        assert api.get("/transactions").json()["items"] == []
        assert api.get("/transactions", params={"partner_id": first}).status_code == 403
        assert api.post(f"/transactions/{operation}/cancel").status_code == 404
        assert api.get("/settlements", params={"partner_id": first}).status_code == 403
    assert stack.ledger.get_operation(operation).status == "approved"


def test_wrong_csrf_token_forged_post_and_failed_logins_are_refused(site, browser):
    stack = site.stack
    shop = stack.partner("Librairie du Port")
    admin_of(site, shop, "admin@port.example")
    card = stack.beneficiary({"books": (3000, None)})
    terminal = stack.terminal(shop)
    try:
        operation = terminal.sale(card, 500, "books")[1]["op"]
    finally:
        terminal.close()

    page = browser.new_page()
    login(page, site.base, "admin@port.example", PASSWORD)
    page.goto(site.base + "/partner/operations")
    # The page's own form with its CSRF token altered: refused, nothing written.
    page.eval_on_selector(f"#op-{operation} form[action$='/cancel'] input[name=csrf_token]",
                          "input => { input.value = 'not-the-session-token'; }")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(f"#op-{operation} form[action$='/cancel'] button")
    page.wait_for_selector(".error")
    assert "CSRF" in page.inner_text(".error")
    # A post from elsewhere carries the cookie but cannot know the token.
    forged = page.request.post(f"{site.base}/partner/operations/{operation}/cancel",
                               form={"back": "/partner/operations"})
    assert forged.status == 403
    assert stack.ledger.get_operation(operation).status == "approved"

    # Five wrong passwords lock the address; then even the right one waits.
    other = browser.new_page()
    for attempt in range(5):
        login(other, site.base, "admin@port.example", f"Mauvais-{attempt}-Passe!")
    assert "bloqué jusqu'à" in other.inner_text(".error")
    login(other, site.base, "admin@port.example", PASSWORD)
    assert "bloqué jusqu'à" in other.inner_text(".error")
    assert "/login" in other.url


def test_forgotten_password_is_reset_by_the_emailed_link(site, browser):
    shop = site.stack.partner("Cinéma Le Palace")
    admin_of(site, shop, "admin@palace.example")
    page = browser.new_page()
    page.goto(site.base + "/password/forgot")
    page.fill("input[name=email]", "admin@palace.example")
    page.click("button[type=submit]")
    assert "Si un compte existe" in flash(page)
    link = site.smtp.link_for("admin@palace.example")
    assert link.startswith("/password/reset?token=")
    set_password(page, site.base, link, "Palace cinema 2026")  # a space, no special character
    assert "aucun espace" in page.inner_text(".error")
    set_password(page, site.base, link, "Palace!Cinema2026")
    assert "mot de passe est changé" in flash(page)
    set_password(page, site.base, link, "Palace!Cinema2027")  # the link was used once
    assert "déjà utilisé" in page.inner_text(".error")
    login(page, site.base, "admin@palace.example", PASSWORD)
    assert "incorrect" in page.inner_text(".error")
    login(page, site.base, "admin@palace.example", "Palace!Cinema2026")
    page.wait_for_url("**/partner")
