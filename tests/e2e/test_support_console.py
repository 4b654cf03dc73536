"""The support desk in a browser (Playwright driving Debian's Chromium) against the real server,
the project's Mosquitto and the real firmware on the MicroPython binary: an agent logs in,
finds a terminal, runs a diagnostic and sees each check, restarts it and sees it go offline
and come back, opens an intervention; a command for an offline terminal is delivered when it
reconnects; every action is in the audit trail. Saves docs/screenshots/support-terminal.png."""

import os
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from fleet_stack import Stack
from sqlalchemy import update
from test_firmware_sale import FirmwareProcess, provision

from fleet_server.adapters import orm
from fleet_server.entrypoints.app import create_app

pytestmark = [pytest.mark.broker, pytest.mark.micropython]
REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = REPO / "docs" / "screenshots" / "support-terminal.png"
PASSWORD = "Bureau-Support-2026!"


def make_account(fleet, role: str) -> str:
    """An activated console account (the activation e-mail itself is issue 9's test)."""
    accounts = fleet.accounts
    email = f"agent-{os.urandom(3).hex()}@desk.example"
    _user, link = accounts.invite(email, role, None, "Camille Support", send=False)
    accounts.complete_link(link.split("token=")[1], "activate", PASSWORD, PASSWORD)
    return email


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        from real_parts import missing

        missing("chromium (apt-get install -y chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.fixture
def site(mosquitto, micropython_bin, tmp_path):
    stack = Stack(mosquitto.url, f"sqlite:///{tmp_path}/fleet.sqlite3").start()
    stack.setup_program()
    shop = stack.partner("Librairie des Lilas", categories=("books",))
    with stack.fleet.engine.begin() as conn:  # whom the desk calls
        conn.execute(update(orm.partners).where(orm.partners.c.partner_id == shop).values(
            phone="04 78 12 34 56", email="contact@lilas.example",
            address="3 rue des Lilas, 69001 Lyon"))
    root = tmp_path / "flash"
    dev = provision(stack, shop, root, mosquitto)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(stack.fleet), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    boards = [FirmwareProcess(micropython_bin, root)]
    boards[0].wait_screen("Librairie des")
    yield stack, dev, f"http://127.0.0.1:{port}", boards, root, micropython_bin
    for board in boards:
        board.stop()
    server.should_exit = True
    thread.join(10)
    stack.stop()


def connection_is(page, state: str, timeout_s: float = 30) -> None:
    page.wait_for_selector(f"#direct [data-connection='{state}']", timeout=timeout_s * 1000)


def test_an_agent_diagnoses_restarts_and_follows_a_terminal(site, browser):
    stack, dev, base, boards, root, binary = site
    email = make_account(stack.fleet, "support")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("dialog", lambda dialog: dialog.accept())  # "Redémarrer ce terminal ?"

    # Log in; the desk's home is the fleet list; find the terminal by its partner.
    page.goto(base + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/support")
    page.fill("input[name=q]", "lilas")
    page.click("form.filters button[type=submit]")
    page.click(f"#fleet a:has-text('{dev}')")
    page.wait_for_url(f"{base}/support/terminaux/{dev}")
    connection_is(page, "online")
    assert "04 78 12 34 56" in page.content()

    # Diagnostics, with a reason; each check's result appears.
    page.fill("#form-diagnostics input[name=reason]", "Le partenaire signale un écran figé")
    page.click("#form-diagnostics button")
    row = "#commands tr[data-name='diagnostics'][data-state='succeeded']"
    page.wait_for_selector(row, timeout=30_000)
    for check in ("network", "scanner", "display", "keypad", "clock", "memory", "journal"):
        cell = page.inner_text(f"{row} tr[data-check='{check}']")
        assert "OK" in cell or "Échec" in cell, (check, cell)
    assert "OK" in page.inner_text(f"{row} tr[data-check='network']")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # Restart: the firmware answers, restarts (exit 3 on the unix port), the last will says
    # offline; the board starts again (as a real one would) and comes back online.
    page.fill("#form-restart input[name=reason]", "Écran figé après le diagnostic")
    page.click("#form-restart button")
    page.wait_for_selector("#commands tr[data-name='restart'][data-state='succeeded']",
                           timeout=30_000)
    assert boards[0].proc.wait(30) == 3
    connection_is(page, "offline")
    boards.append(FirmwareProcess(binary, root))
    connection_is(page, "online", 60)

    # An intervention, opened from the terminal page.
    page.select_option("#form-intervention select[name=category]", "hardware_fault")
    page.fill("#form-intervention input[name=title]", "Écran qui se fige")
    page.fill("#form-intervention textarea[name=note]", "Redémarré à distance, à surveiller")
    page.click("#form-intervention button")
    page.wait_for_url(f"{base}/support/interventions/*")
    assert "Écran qui se fige" in page.content()
    assert "Redémarré à distance" in page.content()

    # Offline: the log request waits, and is delivered when the terminal reconnects.
    boards[-1].kill()
    page.goto(f"{base}/support/terminaux/{dev}")
    connection_is(page, "offline")
    page.fill("#form-logs input[name=reason]", "Lire le journal au retour")
    page.click("#form-logs button")
    page.wait_for_selector("#commands tr[data-name='get_logs'][data-state='queued']")
    assert "mis en attente" in page.content()
    boards.append(FirmwareProcess(binary, root))
    logs = "#commands tr[data-name='get_logs'][data-state='succeeded']"
    page.wait_for_selector(logs, timeout=60_000)
    shown = page.inner_text(logs)
    [command] = stack.fleet.support.store.commands(dev, states=("succeeded",),
                                                            limit=1)
    assert command.name == "get_logs" and "lines" in command.result
    for line in command.result["lines"][-3:]:
        assert line in shown
    if not command.result["lines"]:
        assert "Journal vide" in shown

    # The audit trail: who, why and the result of each action.
    audit = {e.action: e for e in stack.fleet.support.store.audit_log(dev)}
    assert set(audit) == {"command:diagnostics", "command:restart", "command:get_logs",
                          "intervention:open"}
    assert all(e.actor == email for e in audit.values())
    assert audit["command:restart"].reason == "Écran figé après le diagnostic"
    for action in ("command:diagnostics", "command:restart", "command:get_logs"):
        assert audit[action].result.startswith("succeeded"), audit[action]
    page.close()
