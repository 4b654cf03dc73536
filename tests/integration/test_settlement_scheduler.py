"""The nightly settlement runs once a night across server instances and catches up."""

import threading
from datetime import UTC, date, datetime, timedelta

import pytest

from fleet_server.bootstrap import bootstrap
from fleet_server.entrypoints import scheduler
from fleet_server.ledger.port import DebitRequest
from fleet_server.reference_ledger import rules
from fleet_server.reference_ledger.reference import PotView, ReferenceLedger
from fleet_server.reference_ledger.settlement import list_batches
from fleet_server.settings import Settings
from protocol import tokens


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/fleet.sqlite3"
    return request.getfixturevalue("fresh_postgres_url")


def _instance(db_url):
    return bootstrap(Settings(db_url=db_url, master_secret="scheduler-test-secret-0123456789ab",
                              settlement_enabled=False))


def _sales_on(fleet, days: list[datetime]) -> str:
    """One approved sale at each given instant (the ledger's clock decides the day)."""
    ledger = fleet.ledger
    program = ledger.create_program("Pass", 2026)
    partner = ledger.create_partner("Librairie")
    agreement = ledger.create_agreement(partner, program, "books", 2026)
    ledger.set_agreement_status(agreement, rules.ACCEPTED)
    ledger.set_agreement_status(agreement, rules.SIGNED)
    card = tokens.make_card("97310000042")
    ledger.create_beneficiary(program, card, [PotView("books", 100_000, None)])
    for i, at in enumerate(days):
        at_ledger = ReferenceLedger(fleet.session_factory, clock=lambda at=at: at)
        result = at_ledger.debit(DebitRequest(f"k{i}", partner, card, 500, "books", at))
        assert result.approved
    return partner


def test_two_instances_settle_each_day_once_and_catch_up_after_downtime(db_url):
    a, b = _instance(db_url), _instance(db_url)
    now = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    # Sales on the three days the server was down, one at 23:30 Paris (22:30 UTC).
    instants = [datetime(2026, 11, d, 22, 30, tzinfo=UTC) for d in (21, 22, 23)]
    partner = _sales_on(a, instants + [datetime(2026, 11, 24, 9, 0, tzinfo=UTC)])
    reports = []
    threads = [threading.Thread(target=lambda f=f: reports.append(
        scheduler.run_due_settlements(f, now=now))) for f in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    batches = list_batches(a.session_factory, partner_id=partner)
    assert sorted(batch.day for batch in batches) == [date(2026, 11, d) for d in (21, 22, 23, 24)]
    assert all(batch.count == 1 and batch.total_cents == 500 for batch in batches)
    done = [line for report in reports for line in report if "batch(es)" in line]
    assert len([line for line in done if not line.endswith(": 0 batch(es)")]) == 4
    # Nothing is due any more; a later tick settles nothing twice.
    assert all("batch(es)" not in line for line in scheduler.run_due_settlements(a, now=now))
    for fleet in (a, b):
        fleet.close()


def test_the_nightly_cutoff_is_the_last_paris_midnight():
    now = datetime(2026, 3, 29, 22, 30, tzinfo=UTC)  # 00:30 on the 30th in Paris (summer time)
    assert scheduler.tonight_cutoff(now) == date(2026, 3, 30)
    assert scheduler.tonight_cutoff(now - timedelta(hours=1)) == date(2026, 3, 29)
