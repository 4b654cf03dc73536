"""The crash test, short (bench/cluster.py is the long one): a 3-node NATS cluster, two
`fleet serve` processes sharing requests on one PostgreSQL, simulated terminals running the
real firmware with every node in their configuration. While they sell, one server process is
SIGKILLed with debits in flight, then one broker node; both come back. Nothing is lost or
debited twice, every wallet ends to the cent, and sales resume after each kill (the 10 s
target is bench/cluster.py's; CI, on shared cores, holds 20 s)."""

import pytest
from real_parts import missing

from fleet_server.adapters.nats_cluster import find_nats_server
from simulator.cluster import ClusterFleet, recovery, wait_subscribed
from simulator.fleet import report_of, sell
from simulator.scenario import from_dict

pytestmark = [pytest.mark.postgres]


def test_a_server_process_and_a_broker_node_die_while_terminals_sell(fresh_postgres_url,
                                                                      tmp_path):
    if not find_nats_server():
        missing("nats-server (apt-get install nats-server)")
    scenario = from_dict({
        "fleet": {"terminals": 24, "sales": 10, "think_s": [0.2, 0.8], "partners": 3,
                  "seed": 3, "max_s": 120},
        "mix": {"valid": 85, "voucher": 5, "insufficient": 5, "unknown_code": 5,
                "void_after": 0.1},
        "faults": [{"kind": "server_restart", "at": 0.2, "down_s": 2.0},
                   {"kind": "broker_restart", "at": 0.6, "down_s": 2.0}],
    })
    stack = ClusterFleet(fresh_postgres_url, servers=2, workdir=tmp_path).start()
    try:
        run = sell(scenario, stack, tmp_path, ready=wait_subscribed)
        report = report_of(run, stack)
        kills = recovery(run.sales, stack.kills)
    finally:
        stack.stop()

    assert report["lost"] == 0, report["problems"]
    assert report["duplicated"] == 0, report["problems"]
    assert report["wallet_mismatches"] == 0, report["problems"]
    assert [k["what"].split()[0] for k in kills] == ["server", "broker"], kills
    # The target is 10 s (bench/cluster.py reports it); measured here between 6.5 and 13.6 s
    # with other work on the same 2 cores, so CI holds a bound it can keep: sales do resume.
    assert all(k["recovery_s"] < 20 for k in kills), kills
    assert "unresolved" not in report["errors_by_code"], report["errors_by_code"]
    assert report["approved"] > 100
