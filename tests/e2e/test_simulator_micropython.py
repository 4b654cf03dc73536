"""End to end on the MicroPython binary: the simulator provisions a terminal, starts the real
firmware on `micropython` (firmware/main.py, the simulated board) and sells through it, beside
terminals in this process; the run is reconciled against the ledger like any other."""

import pytest

from simulator.fleet import report_of, sell
from simulator.mp_terminal import MpTerminal
from simulator.scenario import from_dict
from simulator.stack import LocalFleet

pytestmark = [pytest.mark.broker, pytest.mark.micropython]


@pytest.fixture
def stack(mosquitto, tmp_path):
    stack = LocalFleet(broker_url=mosquitto.url, workdir=tmp_path).start()
    yield stack
    stack.stop()


def test_a_terminal_on_micropython_completes_sales_through_the_simulator(
        stack, micropython_bin, tmp_path):
    scenario = from_dict({
        "fleet": {"terminals": 2, "micropython": 1, "sales": 3, "think_s": [0, 0.2],
                  "max_s": 90},
        "mix": {"valid": 2, "over_cap": 1}})
    run = sell(scenario, stack, tmp_path, micropython_bin=micropython_bin)
    report = report_of(run, stack)
    [on_binary] = [t for t in run.terminals if isinstance(t, MpTerminal)]
    its_sales = [s for s in run.sales if s.device_id == on_binary.device_id]
    seen = "\n".join(on_binary.output[-30:])
    assert len(its_sales) == 3, seen
    assert any(s.outcome == "approved" and s.auth for s in its_sales), (its_sales, seen)
    assert report["micropython_terminals"] == 1 and report["terminals"] == 2
    assert report["attempted"] == 6 and report["ok"], (report["problems"], seen)
    # Over the cap: refused by the ledger, or already at the counter when the terminal's
    # config carries the cap (nothing sent then).
    assert report["errors"] == 0 and set(report["not_sent"]) <= {"over_purchase_cap"}, report
    over_cap = (report["declined"].get("over_purchase_cap", 0)
                + report["not_sent"].get("over_purchase_cap", 0))
    assert report["approved"] + over_cap == 6
    assert report["approved"] >= 1
