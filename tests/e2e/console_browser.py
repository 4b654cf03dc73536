"""Real parts of the web console's browser tests: a local SMTP server (aiosmtpd) that keeps what
it receives, the fleet server under uvicorn on a free port, Debian's Chromium through
Playwright, and small page helpers. Imported as a plain module (tests/ is on sys.path)."""

import email
import email.policy
import os
import queue
import re
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import uvicorn
from fleet_stack import Stack

from fleet_server.entrypoints.app import create_app

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpSink:
    """A real SMTP server on 127.0.0.1 that keeps every message it accepts."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages: queue.Queue = queue.Queue()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.put((list(envelope.rcpt_tos), message["Subject"],
                           message.get_content()))
        return "250 OK"

    def start(self) -> "SmtpSink":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def link_for(self, recipient: str, timeout: float = 20.0) -> str:
        """The one-time link of the next message to `recipient`, as a path on the site."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no e-mail for {recipient}")
            to, _subject, body = self.messages.get(timeout=left)
            if recipient in to:
                parts = urlsplit(re.search(r"https?://\S+token=\S+", body).group(0))
                return f"{parts.path}?{parts.query}"


class ConsoleServer:
    """create_app(fleet) served by uvicorn in a thread: the real HTTP server."""

    def __init__(self, fleet, port: int):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(create_app(fleet), host="127.0.0.1",
                                                    port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> "ConsoleServer":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def launch_chromium(sync_api):
    if not os.path.exists(CHROMIUM):
        from real_parts import missing

        missing("chromium (apt-get install -y chromium)")
    return sync_api.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu"])


def set_password(page, base: str, link_path: str, password: str) -> None:
    page.goto(base + link_path)
    page.fill("input[name=password]", password)
    page.fill("input[name=confirm]", password)
    page.click("button[type=submit]")


def login(page, base: str, user: str, password: str) -> None:
    page.goto(base + "/login")
    page.fill("input[name=email]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def flash(page) -> str:
    return page.inner_text(".flash") if page.locator(".flash").count() else ""


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


@pytest.fixture
def smtp():
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@contextmanager
def console_site(broker_url: str, db_url: str, smtp: SmtpSink, monkeypatch):
    """A Stack (server on the broker and database, program, reference ledger) whose e-mails
    go to `smtp` and whose links point at its own uvicorn server."""
    port = free_port()
    for name, value in (("FLEET_SMTP_HOST", "127.0.0.1"), ("FLEET_SMTP_PORT", str(smtp.port)),
                        ("FLEET_SMTP_FROM", "console@programme.example"),
                        ("FLEET_PUBLIC_URL", f"http://127.0.0.1:{port}")):
        monkeypatch.setenv(name, value)
    stack = Stack(broker_url, db_url).start()
    stack.setup_program()
    server = ConsoleServer(stack.fleet, port).start()
    try:
        yield SimpleNamespace(stack=stack, base=server.url, smtp=smtp,
                              accounts=stack.fleet.accounts)
    finally:
        server.stop()
        stack.stop()


def activate_by_mail(site, page, email_address: str, password: str) -> None:
    """Open the activation link the account's e-mail carried and choose the password."""
    set_password(page, site.base, site.smtp.link_for(email_address), password)
    assert "Votre compte est activé" in flash(page)
