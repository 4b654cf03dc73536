"""The partner console in a browser (Playwright driving Debian's Chromium) against the real
server (uvicorn), the project's Mosquitto, a real local SMTP server and the database (SQLite and
PostgreSQL): the operator creates a partner whose admin activates the account from the e-mailed
link, sees a sale made by a terminal over MQTT, adds an internal reference, cancels it, sees the
cancel button greyed once reimbursement is requested, exports the operations as CSV and
downloads it; a partner user records a sale through the online till on a phone-sized screen.
Saves the screenshots of docs/screenshots/ (partner-home, partner-operations, online-till,
operator-partners)."""

import pytest
from console_browser import (
    activate_by_mail,
    console_site,
    flash,
    launch_chromium,
    login,
    set_password,
    shot,
    smtp,  # noqa: F401  (fixture)
)

from fleet_server.reference_ledger import settlement

pytestmark = pytest.mark.broker
OPERATOR_PASSWORD = "Programme-Region-2026!"
ADMIN_PASSWORD = "Librairie-Ecoles-2026?"
CLERK_PASSWORD = "Comptoir#Ecoles2026"


@pytest.fixture(params=["sqlite", "postgres"])
def site(request, tmp_path, mosquitto, smtp, monkeypatch):  # noqa: F811
    db_url = (f"sqlite:///{tmp_path}/fleet.sqlite3" if request.param == "sqlite"
              else request.getfixturevalue("fresh_postgres_url"))
    with console_site(mosquitto.url, db_url, smtp, monkeypatch) as site:
        site.db = request.param
        yield site


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        yield browser
        browser.close()


def operator_creates_partner(site, page) -> str:
    site.accounts.invite("operateur@programme.example", "operator", name="Odile Opératrice")
    link = site.smtp.link_for("operateur@programme.example")
    # Long enough for the browser's own check, weak for the server's: refused, rules shown.
    set_password(page, site.base, link, "motdepassefaible1")
    error = page.inner_text(".error")
    assert "au moins une majuscule" in error and "caractère spécial" in error
    set_password(page, site.base, link, OPERATOR_PASSWORD)
    assert "Votre compte est activé" in flash(page)
    login(page, site.base, "operateur@programme.example", OPERATOR_PASSWORD)
    page.wait_for_url("**/operator/partners")
    page.fill("form[action='/operator/partners'] input[name=name]", "Librairie des Écoles")
    page.fill("form[action='/operator/partners'] input[name=phone]", "01 49 74 75 49")
    page.fill("form[action='/operator/partners'] input[name=admin_email]",
              "admin@librairie.example")
    page.click("form[action='/operator/partners'] button[type=submit]")
    page.wait_for_url("**/operator/partners/PA*")
    assert "Lien d'activation envoyé à admin@librairie.example" in flash(page)
    partner_id = page.url.rsplit("/", 1)[1]
    page.select_option("form[action$='/agreements'] select[name=category]", "books")
    page.click("form[action$='/agreements'] button[type=submit]")  # "signée" by default
    assert "Signée" in page.inner_text("#agreements")
    assert "Livres" in page.inner_text("#agreements")  # the category's label, not its code
    # The category list: a new category is offered at once in the forms that use one.
    page.goto(site.base + "/operator/categories")
    page.fill("form[action='/operator/categories'] input[name=code] >> nth=-1", "museum")
    page.fill("form[action='/operator/categories'] input[name=label] >> nth=-1", "Musées")
    page.click("form[action='/operator/categories'] button.primary")
    assert "Catégorie « Musées » (museum) enregistrée." in flash(page)
    page.goto(site.base + f"/operator/partners/{partner_id}")
    assert "Musées" in page.inner_text("form[action$='/agreements'] select[name=category]")
    page.goto(site.base + "/operator/partners")
    shot(page, "operator-partners.png")
    return partner_id


def test_partner_admin_day_and_online_till(site, browser):
    stack = site.stack
    operator = browser.new_page(locale="fr-FR")
    partner_id = operator_creates_partner(site, operator)
    card = stack.beneficiary({"books": (5000, 2000)})
    terminal = stack.terminal(partner_id)
    context = browser.new_context(accept_downloads=True, locale="fr-FR",
                                  viewport={"width": 1280, "height": 900})
    admin = context.new_page()
    try:
        activate_by_mail(site, admin, "admin@librairie.example", ADMIN_PASSWORD)
        login(admin, site.base, "admin@librairie.example", ADMIN_PASSWORD)
        admin.wait_for_url("**/partner")
        assert admin.inner_text("#sales-count") == "0"

        # A sale at the counter's terminal, through the broker, shows on the home page.
        _, sold = terminal.sale(card, 1250, "books")
        assert sold["st"] == "approved"
        operation = sold["op"]
        admin.reload()
        assert admin.inner_text("#sales-count") == "1"
        assert "12,50" in admin.inner_text("#sales-total")
        shot(admin, "partner-home.png")

        # Internal reference (saved in place by htmx), then cancel.
        admin.goto(site.base + "/partner/operations")
        row = f"#op-{operation}"
        admin.fill(f"{row} input[name=reference]", "Facture 2026-117")
        admin.click(f"{row} form[action$='/reference'] button")
        admin.wait_for_selector(f"{row} .badge:has-text('enregistrée')")
        assert "Livres" in admin.inner_text(row) and "books" not in admin.inner_text(row)
        shot(admin, "partner-operations.png")
        admin.once("dialog", lambda dialog: dialog.accept())
        admin.click(f"{row} form[action$='/cancel'] button")
        admin.wait_for_selector(".flash")
        assert f"Opération {operation} annulée" in flash(admin)
        assert "Annulée" in admin.inner_text(row)
        assert stack.ledger.balances(card)[0].balance_cents == 5000

        # Once reimbursement is requested, cancel is greyed with the reason beside it.
        _, second = terminal.sale(card, 800, "books")
        settlement.run_settlement(stack.fleet.session_factory,
                                  settlement.paris_day(second_time(stack, second["op"])))
        admin.reload()
        button = admin.locator(f"#op-{second['op']} form[action$='/cancel'] button")
        assert button.is_disabled()
        assert "Remboursement déjà demandé" in admin.inner_text(f"#op-{second['op']}")

        # Select the cancelled operation and export it; download the CSV from "Mes exports".
        admin.check(f"{row} input[name=operation_ids]")
        assert "1 opération(s) sélectionnée(s) pour 12,50" in admin.inner_text("#selected-count")
        admin.click("#export-button")
        admin.wait_for_url("**/partner/exports")
        assert "1 opération(s)" in flash(admin)
        with admin.expect_download() as download:
            admin.click("#exports a:has-text('Télécharger')")
        text = open(download.value.path(), encoding="utf-8-sig").read()
        header, line = text.splitlines()[:2]
        assert header.startswith("N° opération;Date;Heure;Type;Code")
        assert line.startswith(operation + ";") and "Annulée" in line
        assert "Facture 2026-117" in line and "12,50" in line and ";Livres;" in line

        # The admin adds a counter clerk, who activates and sells through the online till.
        admin.goto(site.base + "/partner/organisation")
        admin.fill("form[action='/partner/users'] input[name=email]", "caisse@librairie.example")
        admin.click("form[action='/partner/users'] button[type=submit]")
        assert "un lien d'activation a été envoyé" in flash(admin)
        clerk_sells_on_a_phone(site, browser, card)
    finally:
        terminal.close()
        context.close()


def second_time(stack, operation_id):
    return stack.ledger.get_operation(operation_id).created_at


def clerk_sells_on_a_phone(site, browser, card):
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                locale="fr-FR",
                                has_touch=True, device_scale_factor=2)
    clerk = phone.new_page()
    try:
        activate_by_mail(site, clerk, "caisse@librairie.example", CLERK_PASSWORD)
        login(clerk, site.base, "caisse@librairie.example", CLERK_PASSWORD)
        clerk.wait_for_url("**/till")
        clerk.fill("#code", card)
        clerk.fill("#amount", "30")  # over the 20 € cap per purchase: the terminal's message
        clerk.click("#till-form button[type=submit]")
        clerk.wait_for_selector("#sale-result[data-status=declined]")
        assert "Plafond par achat dépassé" in clerk.inner_text("#sale-result")
        clerk.fill("#amount", "19,90")
        clerk.click("#till-form button[type=submit]")
        clerk.wait_for_selector("#sale-result[data-status=approved]")
        result = clerk.inner_text("#sale-result")
        assert "Paiement accepté : 19,90" in result and "solde restant" in result
        assert clerk.input_value("#code") == ""  # ready for the next customer
        shot(clerk, "online-till.png")
        assert not clerk.is_visible("#nav")  # the phone layout folds the menu
        clerk.click(".menu-toggle")
        clerk.click("#nav a[href='/till/operations']")
        clerk.wait_for_url("**/till/operations")
        assert "19,90" in clerk.inner_text("#today-operations")
        assert "Caisse en ligne" in clerk.inner_text("#today-operations")
        # A clerk sees the till, not the admin's pages.
        clerk.goto(site.base + "/partner/operations")
        assert "pas accessible avec votre profil" in clerk.inner_text("main")
    finally:
        phone.close()


@pytest.fixture
def mailless_site(tmp_path, mosquitto, monkeypatch):
    """The console in dev mode with no SMTP server configured (a developer's machine, the
    demo): links cannot be e-mailed."""
    from console_browser import ConsoleServer, free_port
    from fleet_stack import Stack

    port = free_port()
    monkeypatch.delenv("FLEET_SMTP_HOST", raising=False)
    monkeypatch.setenv("FLEET_PUBLIC_URL", f"http://127.0.0.1:{port}")
    stack = Stack(mosquitto.url, f"sqlite:///{tmp_path}/fleet.sqlite3").start()
    stack.setup_program()
    server = ConsoleServer(stack.fleet, port).start()
    try:
        yield stack, server.url, stack.fleet.accounts
    finally:
        server.stop()
        stack.stop()


def test_without_a_mail_server_the_admin_is_shown_the_new_users_link(mailless_site, browser):
    stack, base, accounts = mailless_site
    shop = stack.partner("Librairie des Écoles")
    _user, link = accounts.invite("admin@ecoles.example", "partner_admin", shop, send=False)
    admin = browser.new_page()
    set_password(admin, base, link[link.index("/activate"):], ADMIN_PASSWORD)
    login(admin, base, "admin@ecoles.example", ADMIN_PASSWORD)
    admin.goto(base + "/partner/organisation")
    admin.fill("form[action='/partner/users'] input[name=email]", "caisse@ecoles.example")
    admin.click("form[action='/partner/users'] button[type=submit]")
    handover = admin.inner_text("#activation-handover")
    assert "caisse@ecoles.example" in handover and "mode développement" in handover
    shown = admin.inner_text("#activation-link")
    assert shown.startswith(base + "/activate?token=")
    admin.goto(base + "/partner/organisation")  # shown once: not on a later visit
    assert admin.locator("#activation-handover").count() == 0
    clerk = browser.new_context().new_page()
    set_password(clerk, base, shown[len(base):], CLERK_PASSWORD)
    assert "Votre compte est activé" in flash(clerk)


def test_passwords_can_be_shown_while_typed_on_login_and_activation(mailless_site, browser):
    stack, base, accounts = mailless_site
    _user, link = accounts.invite("vue@ecoles.example", "partner_admin",
                                  stack.partner("Librairie des Écoles"), send=False)
    page = browser.new_page()
    page.goto(base + link[link.index("/activate"):])
    for name in ("password", "confirm"):
        field, eye = page.locator(f"input[name={name}]"), page.locator(
            f".password-field:has(input[name={name}]) .show-password")
        field.fill("Visible-2026!x")
        assert field.get_attribute("type") == "password" and eye.inner_text() == "Afficher"
        eye.click()
        assert field.get_attribute("type") == "text" and eye.inner_text() == "Masquer"
        assert eye.get_attribute("aria-pressed") == "true"
        eye.click()
        assert field.get_attribute("type") == "password"
    page.locator(".show-password").first.click()  # shown, the form still sends it
    page.click("button[type=submit]")
    assert "Votre compte est activé" in flash(page)
    page.goto(base + "/login")
    page.fill("input[name=email]", "vue@ecoles.example")
    page.fill("input[name=password]", "Visible-2026!x")
    page.click(".show-password")
    assert page.locator("input[name=password]").get_attribute("type") == "text"
    assert page.locator("input[name=password]").input_value() == "Visible-2026!x"
    page.click("button[type=submit]")
    page.wait_for_url("**/partner")


def test_a_partner_asks_for_help_and_follows_the_desks_answer(site, browser):
    from datetime import UTC, datetime

    from fleet_server.service_layer import registry

    stack = site.stack
    shop = stack.partner("Librairie des Écoles")
    device = registry.register_device(stack.fleet.uow(), stack.fleet.keys, "esp32-gm65",
                                      datetime.now(UTC)).device_id
    registry.assign_device(stack.fleet.uow(), device, shop)
    registry.change_state(stack.fleet.uow(), device, "activate")
    site.accounts.invite("admin@ecoles.example", "partner_admin", shop)
    admin = browser.new_page()
    activate_by_mail(site, admin, "admin@ecoles.example", ADMIN_PASSWORD)
    login(admin, site.base, "admin@ecoles.example", ADMIN_PASSWORD)
    admin.goto(site.base + "/partner/terminals")
    admin.select_option("#help-form select[name=category]", "hardware_fault")
    admin.fill("#help-form input[name=title]", "Le scanner ne lit plus les cartes")
    admin.click("#help-form button[type=submit]")
    admin.wait_for_url("**/partner/assistance")
    assert "transmise à l'assistance" in flash(admin)
    number = int(admin.locator(".help-request").first.get_attribute("id").split("-")[1])
    assert "Ouverte" in admin.inner_text(f"#demande-{number}")

    desk = stack.fleet.support.interventions
    desk.add_note("agent@programme.example", "support", number, "Un lecteur neuf part ce jour.")
    desk.move("agent@programme.example", "support", number, status="resolved")
    mails = [site.smtp.messages.get(timeout=20) for _ in range(2)]
    assert [(to, subject) for to, subject, _ in mails] == [
        (["admin@ecoles.example"], f"Demande d'assistance n° {number} : nouvelle réponse"),
        (["admin@ecoles.example"], f"Demande d'assistance n° {number} : résolue")]
    admin.goto(site.base + "/partner/assistance")
    card = admin.inner_text(f"#demande-{number}")
    assert "Résolue" in card and "Un lecteur neuf part ce jour." in card
    assert "agent@programme.example" not in card
