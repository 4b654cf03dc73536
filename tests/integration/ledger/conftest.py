"""One contract suite for every adapter of the Ledger port.

`ledger_env` yields a LedgerEnv: `.ledger` is the port under test, `.admin` creates the test data
(and reads balances, runs the settlement) on the reference ledger behind it, directly. To add an
adapter, add a line to ADAPTERS: the database the reference ledger runs on, and a context
manager that turns that reference ledger into the port under test (for HTTP: serve it, yield a
client pointed at the server).
"""

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import sessionmaker

from fleet_server.adapters.db import Base, make_engine, make_session_factory
from fleet_server.ledger.port import DebitRequest, Ledger, LedgerResult, VoidRequest
from fleet_server.reference_ledger import categories, rules
from fleet_server.reference_ledger.reference import PotView, ReferenceLedger
from fleet_server.reference_ledger.settlement import cancel_batch, paris_day, run_settlement
from fleet_server.reference_ledger.tables import LEDGER_TABLES
from protocol import tokens

YEAR = 2024


@contextmanager
def direct(reference: ReferenceLedger) -> Iterator[Ledger]:
    yield reference


class _Swappable(Ledger):
    """The ledger behind the module's one HTTP server; each test points it at its own."""

    target: Ledger | None = None

    def debit(self, request):
        return self.target.debit(request)

    def void(self, request):
        return self.target.void(request)

    def lookup(self, partner_id, token):
        return self.target.lookup(partner_id, token)


_SERVED = _Swappable()
_SERVER: dict = {}


@contextmanager
def over_http(reference: ReferenceLedger) -> Iterator[Ledger]:
    """The reference ledger served by `fleet ledger-serve`'s app, reached by HttpLedger."""
    from http_server import serve

    from fleet_server.ledger.http_client import HttpLedger
    from fleet_server.reference_ledger.http_app import create_ledger_app

    if "url" not in _SERVER:  # one server for the session; starting one per test costs 0.3 s
        _SERVER["cm"] = serve(create_ledger_app(_SERVED, "contract-token"))
        _SERVER["url"] = _SERVER["cm"].__enter__()
    _SERVED.target = reference
    client = HttpLedger(_SERVER["url"], token="contract-token", timeout_s=10.0)
    try:
        yield client
    finally:
        client.close()


# adapter name -> (database of the reference ledger, how the port under test reaches it)
ADAPTERS: dict[str, tuple[str, Callable]] = {
    "sqlite": ("sqlite", direct),
    "postgres": ("postgres", direct),
    "http": ("sqlite", over_http),
}


def _database(url: str) -> Iterator[sessionmaker]:
    engine = make_engine(url)
    Base.metadata.drop_all(engine, tables=LEDGER_TABLES)
    Base.metadata.create_all(engine, tables=LEDGER_TABLES)
    factory = make_session_factory(engine)
    with factory() as session, session.begin():
        categories.add_defaults(session, datetime.now(UTC))
    yield factory
    Base.metadata.drop_all(engine, tables=LEDGER_TABLES)
    engine.dispose()


@pytest.fixture(scope="module")
def sqlite_ledger_db(tmp_path_factory) -> Iterator[sessionmaker]:
    yield from _database(f"sqlite:///{tmp_path_factory.mktemp('ledger')}/ledger.db")


@pytest.fixture(scope="module")
def postgres_ledger_db(postgres_url) -> Iterator[sessionmaker]:
    yield from _database(postgres_url)


def _params(names):
    # Cases on PostgreSQL carry the "postgres" mark, so `-m "not postgres"` still runs SQLite.
    out = []
    for name in names:
        database = ADAPTERS[name][0] if name in ADAPTERS else name
        marks = [pytest.mark.postgres] if database == "postgres" else []
        out.append(pytest.param(name, marks=marks, id=name))
    return out


@pytest.fixture(params=_params(["sqlite", "postgres"]))
def ledger_db(request) -> sessionmaker:
    """The reference ledger's database alone, for tests of the reference ledger itself."""
    return request.getfixturevalue(f"{request.param}_ledger_db")


def random_card() -> str:
    return tokens.make_card("".join(secrets.choice("0123456789") for _ in range(11)))


def random_voucher() -> str:
    return tokens.make_voucher(tokens.random_payload32(8, secrets.token_bytes))


class Admin:
    """Unique test data on the reference ledger (tests share a database per module)."""

    year = YEAR
    new_card_code = staticmethod(random_card)  # valid codes that no one has been given
    new_voucher_number = staticmethod(random_voucher)

    def __init__(self, reference: ReferenceLedger, session_factory: sessionmaker):
        self.reference, self.session_factory = reference, session_factory
        self.program_id = reference.create_program("Pass test", YEAR, max_amount_cents=100_000)

    def partner(self, *categories: str, can_take_payments: bool = True, year: int = YEAR,
                status: str = rules.SIGNED) -> str:
        """A partner with one agreement in `status` per category."""
        partner_id = self.reference.create_partner("Librairie test", can_take_payments)
        for category in categories:
            self.agreement(partner_id, category, year, status)
        return partner_id

    def agreement(self, partner_id: str, category: str, year: int = YEAR,
                  status: str = rules.SIGNED) -> str:
        return self.reference.create_agreement(partner_id, self.program_id, category, year,
                                               status)

    def card(self, blocked: bool = False, **pots: int | tuple[int, int | None]) -> str:
        """card(books=(2000, 600), sport=5000): balance in cents, optional per-purchase cap."""
        code = random_card()
        views = [PotView(cat, *(spec if isinstance(spec, tuple) else (spec, None)))
                 for cat, spec in pots.items()]
        self.reference.create_beneficiary(self.program_id, code, views, blocked=blocked)
        return code

    def voucher(self, category: str = "theatre", value_cents: int = 900, year: int = YEAR,
                expires_at: datetime | None = None) -> str:
        return self.reference.create_voucher(self.program_id, random_voucher(), category,
                                             value_cents, year, expires_at)

    def coupons(self, *values: int, category: str = "driving", year: int = YEAR) -> list[str]:
        numbers = [random_voucher() for _ in values]
        self.reference.create_coupon_series(self.program_id, category, year,
                                            list(zip(numbers, values, strict=True)))
        return numbers

    def balance(self, card: str, category: str) -> int:
        return next(p.balance_cents for p in self.reference.balances(card)
                    if p.category == category)

    def operations(self, partner_id: str):
        return self.reference.list_operations(partner_id=partner_id)

    def settle_today(self):
        return run_settlement(self.session_factory, paris_day(datetime.now(UTC)))

    def cancel_batch(self, batch_id: str):
        return cancel_batch(self.session_factory, batch_id)


@dataclass
class LedgerEnv:
    name: str
    ledger: Ledger  # the port under test
    admin: Admin

    def debit(self, partner_id: str, token: str, amount_cents: int,
              category: str | None = None, key: str | None = None,
              device_id: str | None = None) -> LedgerResult:
        return self.ledger.debit(DebitRequest(
            idempotency_key=key or secrets.token_hex(8), partner_id=partner_id, token=token,
            amount_cents=amount_cents, category=category, requested_at=datetime.now(UTC),
            device_id=device_id))

    def void(self, partner_id: str, operation_id: str, key: str | None = None) -> LedgerResult:
        return self.ledger.void(VoidRequest(
            idempotency_key=key or secrets.token_hex(8), partner_id=partner_id,
            operation_id=operation_id, requested_at=datetime.now(UTC)))


@pytest.fixture(params=_params(ADAPTERS))
def ledger_env(request) -> Iterator[LedgerEnv]:
    database, reach = ADAPTERS[request.param]
    session_factory = request.getfixturevalue(f"{database}_ledger_db")
    reference = ReferenceLedger(session_factory)
    with reach(reference) as ledger:
        yield LedgerEnv(request.param, ledger, Admin(reference, session_factory))
