"""The login throttle against a client forging X-Forwarded-For, on a real uvicorn server
configured the way `fleet serve` configures it, reached over loopback.

uvicorn believes proxy headers from 127.0.0.1 by default: a client on the same machine (or
behind anything that forwards from loopback) could pick a new address per attempt and never be
paused. Now the headers are believed only from FLEET_TRUSTED_PROXIES."""

import socket
import threading
import time
from contextlib import contextmanager

import httpx
import pytest
import uvicorn

from fleet_server.bootstrap import bootstrap
from fleet_server.entrypoints.app import create_app
from fleet_server.entrypoints.http_serve import uvicorn_config
from fleet_server.service_layer.accounts_policy import Throttle
from fleet_server.settings import Settings

MASTER = "integration-test-master-secret-0123456789"


@contextmanager
def serving(config: uvicorn.Config):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()


def failed_logins(base: str, forged: list[str]) -> list[int]:
    """One failed login per forged address; the HTTP status of each."""
    statuses = []
    with httpx.Client(base_url=base) as client:
        for address in forged:
            client.get("/login")
            statuses.append(client.post("/login", headers={"X-Forwarded-For": address}, data={
                "email": f"nobody-{address}@example.org", "password": "Wrong!2026-pass",
                "csrf_token": client.cookies.get("fleet_csrf")}).status_code)
    return statuses


@pytest.fixture
def fleet_for(tmp_path):
    made = []

    def make(**settings):
        fleet = bootstrap(Settings(db_url=f"sqlite:///{tmp_path}/fleet{len(made)}.sqlite3",
                                   master_secret=MASTER, **settings))
        made.append(fleet)
        fleet.accounts.throttle = Throttle(per_client=3)  # paused at the 4th failure
        return fleet

    yield make
    for fleet in made:
        fleet.close()


FORGED = ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4", "203.0.113.5"]


def test_forged_forwarded_for_does_not_escape_the_throttle_by_default(fleet_for):
    fleet = fleet_for()
    assert fleet.settings.trusted_proxies is None  # off by default
    with serving(uvicorn_config(create_app(fleet), fleet.settings, log_config=None,
                                lifespan="off", access_log=False)) as base:
        statuses = failed_logins(base, FORGED)
    # Counted against the loopback address that really connected: paused after three.
    assert statuses == [401, 401, 401, 429, 429]


def test_uvicorn_defaults_would_believe_the_forged_header(fleet_for):
    # The attack, as `fleet serve` ran before: uvicorn's own defaults.
    fleet = fleet_for()
    with serving(uvicorn.Config(create_app(fleet), log_config=None, lifespan="off",
                                access_log=False)) as base:
        assert failed_logins(base, FORGED) == [401] * 5


def test_a_configured_proxy_is_believed(fleet_for):
    fleet = fleet_for(trusted_proxies="127.0.0.1")
    with serving(uvicorn_config(create_app(fleet), fleet.settings, log_config=None,
                                lifespan="off", access_log=False)) as base:
        # Behind a real proxy every customer has their own address: none of them is paused.
        assert failed_logins(base, FORGED) == [401] * 5
        # ... but one customer is, whatever the proxy.
        assert failed_logins(base, ["198.51.100.7"] * 4) == [401, 401, 401, 429]
