"""End to end, CI's stand-in for hardware: 50 simulated terminals running the real firmware sell
20 times each through the project's Mosquitto, the fleet server and the reference ledger on
PostgreSQL, while every fault type strikes (connections dropped, terminals killed between a
request and its answer, clocks skewed, the broker and the server restarted). Nothing may be
lost or debited twice, and every wallet must end at initial - approved + voided, to the cent."""

from datetime import UTC, datetime

import pytest
from real_parts import missing

from fleet_server.adapters.mosquitto import find_mosquitto
from fleet_server.ledger.port import DebitRequest
from simulator.fleet import report_of, run_fleet, sell
from simulator.scenario import FAULT_KINDS, KINDS, SCENARIOS, from_dict, load
from simulator.stack import LocalFleet

pytestmark = [pytest.mark.broker, pytest.mark.postgres]


@pytest.fixture
def stack(fresh_postgres_url, tmp_path):
    if not find_mosquitto():
        missing("mosquitto (apt-get install mosquitto)")
    # Our own Mosquitto (not the session's): this test restarts it.
    stack = LocalFleet(db_url=fresh_postgres_url, broker_kind="mosquitto",
                       workdir=tmp_path).start()
    yield stack
    stack.stop()


def test_fifty_terminals_twenty_sales_every_fault_nothing_lost(stack, tmp_path):
    scenario = load(SCENARIOS / "every-fault.toml")  # the shipped one: 50 x 20, all faults
    assert (scenario.terminals, scenario.sales) == (50, 20)
    report = run_fleet(scenario, stack, tmp_path)

    assert report["attempted"] == 1000
    assert report["lost"] == 0, report["problems"]
    assert report["duplicated"] == 0, report["problems"]
    assert report["wallet_mismatches"] == 0, report["problems"]
    assert report["ok"]
    struck = {fault["kind"] for fault in report["faults"]}
    assert struck == set(FAULT_KINDS), report["faults"]
    assert not any("skipped" in fault["detail"] for fault in report["faults"])
    assert "unresolved" not in report["errors_by_code"]
    assert set(report["by_kind"]) == set(KINDS)  # every kind of token was scanned
    assert report["approved"] > 500 and report["voids"]["approved"] > 0
    # Each refusal has its reason, and the reasons are the ones the mix asks for.
    # Over the cap is refused by the ledger, or at the counter when the config has the cap.
    assert {"insufficient_balance", "over_purchase_cap", "voucher_used", "unknown_code",
            "not_in_agreement", "coupon_out_of_order"} <= set(report["declined"]) | set(
                report["not_sent"])
    assert report["errors_by_code"].keys() <= {"ts_out_of_window"}  # the +900 s clocks
    assert report["latency_ms"]["p50"] is not None


def test_the_reconciliation_reads_the_real_ledger(stack, tmp_path):
    """A negative control: a second debit of a sale a terminal showed is found as duplicated,
    money moved behind a terminal's back as lost, and both as wallet mismatches."""
    scenario = from_dict({"fleet": {"terminals": 2, "sales": 3, "think_s": [0, 0.1]},
                          "mix": {"valid": 1}})
    run = sell(scenario, stack, tmp_path)
    assert report_of(run, stack)["ok"]
    shown = next(s for s in run.sales if s.outcome == "approved")
    partner = run.world.terminals[0].partner_id
    device = run.terminals[0].device_id

    def debit(key, token, cents):
        request = DebitRequest(key, partner, token, cents, "books", datetime.now(UTC),
                               device_id=device)
        assert stack.ledger.debit(request).approved

    debit("control:twice", shown.token, shown.amount_cents)
    report = report_of(run, stack)
    assert (report["duplicated"], report["lost"]) == (1, 0) and not report["ok"]
    assert report["wallet_mismatches"] == 1
    debit("control:behind", shown.token, 123)
    report = report_of(run, stack)
    assert (report["duplicated"], report["lost"]) == (1, 1)
