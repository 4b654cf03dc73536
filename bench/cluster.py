"""Crash test of the scaled-out fleet (not a test): nothing lost when a server process or a
broker node dies.

    .venv/bin/python bench/cluster.py [--terminals 300] [--sales 10] [--servers 2]
                                      [--slowest N] [--json]

3 NATS nodes (MQTT, JetStream R3), 2+ `fleet serve` processes sharing requests through the
JetStream work queue, PostgreSQL (the local server's `test` database makes a fresh one),
simulated terminals running the real firmware (simulator/) with every node in their
configuration. While they sell: one server process is SIGKILLed (while debits are in flight),
then one broker node; each comes back after --down-s. Then the run is reconciled with the
ledger (simulator/reconcile.py): lost, duplicated, wallet mismatches.

recovery_s: per kill, the longest a sale waited on account of it (simulator.cluster.recovery);
target: under 10 s. Baseline, same run: a raw MQTT QoS 1 round trip between two nodes of the
same cluster, and the ratio of the sales' p50 latency to it.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulator.cluster import ClusterFleet, recovery, wait_subscribed  # noqa: E402
from simulator.fleet import report_of, sell  # noqa: E402
from simulator.scenario import from_dict  # noqa: E402

PG_ADMIN = "host=127.0.0.1 port=5432 dbname=test user=postgres"


def scenario(terminals: int, sales: int, down_s: float, think, partners: int):
    return from_dict({
        "fleet": {"terminals": terminals, "sales": sales, "think_s": list(think),
                  "partners": partners, "seed": 7, "max_s": 600},
        "mix": {"valid": 85, "voucher": 5, "insufficient": 4, "over_cap": 3,
                "unknown_code": 3, "void_after": 0.05},
        "faults": [{"kind": "server_restart", "at": 0.3, "down_s": down_s},
                   {"kind": "broker_restart", "at": 0.6, "down_s": down_s}],
    })


def echo_p50_ms(stack: ClusterFleet, count: int = 200) -> float:
    """QoS 1 publish on node 1, received on node 2, one at a time."""
    a, b = (n.mqtt_port for n in stack.cluster.nodes[:2])
    got = []
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="echo-sub-" + uuid.uuid4().hex)
    sub.on_message = lambda *_a: got.append(time.perf_counter())
    sub.connect("127.0.0.1", b)
    sub.loop_start()
    sub.subscribe("bench/echo", 1)
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="echo-pub-" + uuid.uuid4().hex)
    pub.connect("127.0.0.1", a)
    pub.loop_start()
    time.sleep(1)
    samples = []
    for _ in range(count):
        n, t0 = len(got), time.perf_counter()
        pub.publish("bench/echo", b"x", qos=1)
        while len(got) == n and time.perf_counter() - t0 < 5:
            time.sleep(0.0002)
        if len(got) > n:
            samples.append((got[-1] - t0) * 1000)
    for c in (pub, sub):
        c.disconnect()
        c.loop_stop()
    return statistics.median(samples) if samples else float("nan")


def run(terminals: int, sales: int, servers: int, down_s: float, think=(0.5, 2.0),
        partners: int = 10, workdir: Path | None = None, db_url: str | None = None,
        slowest: int = 0) -> dict:
    workdir = Path(workdir or tempfile.mkdtemp(prefix="bench-cluster-"))
    dropped = None
    if db_url is None:
        db_url, dropped = _fresh_database()
    stack = ClusterFleet(db_url, servers=servers, workdir=workdir)
    try:
        stack.start()  # stops what it started when it fails
        echo = echo_p50_ms(stack)
        warm = []
        fleet_run = sell(scenario(terminals, sales, down_s, think, partners), stack, workdir,
                         ready=lambda ts: warm.append(wait_subscribed(ts)))
        report = report_of(fleet_run, stack)
        kills = recovery(fleet_run.sales, stack.kills)
        if slowest:
            for kill, record in zip(kills, stack.kills, strict=True):
                kill["slowest"] = slowest_after(fleet_run, record["at"], slowest)
    finally:
        stack.stop()
        if dropped:
            dropped()
    p50 = report["latency_ms"]["p50"]
    return {
        "attempted": report["attempted"], "approved": report["approved"],
        "lost": report["lost"], "duplicated": report["duplicated"],
        "wallet_mismatches": report["wallet_mismatches"],
        "errors_by_code": report["errors_by_code"], "terminals": terminals,
        "broker_nodes": len(stack.cluster.nodes), "server_processes": servers,
        "killed": [k["what"] for k in stack.kills], "kills": kills,
        "recovery_s": max((k["recovery_s"] for k in kills), default=None),
        "sales_per_s": report["sales_per_s"], "latency_ms": report["latency_ms"],
        "subscribed_in_s": round(warm[0], 1) if warm else None,
        "baseline_echo_p50_ms": round(echo, 2),
        "ratio_sale_p50_to_echo": round(p50 / echo, 1) if p50 and echo else None,
        "ok": report["ok"], "problems": report.get("problems", [])[:20],
    }


def slowest_after(fleet_run, at: float, count: int, window_s: float = 10.0) -> list[dict]:
    """The sales that waited longest on account of a kill at `at` (in flight then, or validated
    within window_s after it): which terminal, when validated (s from the kill), how long it
    waited. To tell a few unlucky terminals from a stall of everything."""
    waits = []
    for seller in fleet_run.sellers:
        for sale in seller.sales:
            if sale.confirmed is None or sale.latency_ms is None:
                continue
            answered = sale.confirmed + sale.latency_ms / 1000
            if answered < at or sale.confirmed > at + window_s:
                continue
            waits.append({"terminal": seller.t.name, "wait_s": round(answered - max(
                sale.confirmed, at), 2), "validated_s": round(sale.confirmed - at, 2),
                "outcome": sale.outcome})
    return sorted(waits, key=lambda w: -w["wait_s"])[:count]


def _fresh_database():
    import psycopg

    name = "ct_cluster_" + uuid.uuid4().hex[:8]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop():
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", drop


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--terminals", type=int, default=300)
    ap.add_argument("--sales", type=int, default=10, help="per terminal")
    ap.add_argument("--servers", type=int, default=2)
    ap.add_argument("--down-s", type=float, default=3.0)
    ap.add_argument("--slowest", type=int, default=0, metavar="N",
                    help="list the N sales that waited longest after each kill")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = run(args.terminals, args.sales, args.servers, args.down_s, slowest=args.slowest)
    if args.json:
        print(json.dumps(out))
    else:
        for key, value in out.items():
            print(f"{key:26} {value}")
    return 0 if out["ok"] and (out["recovery_s"] or 0) < 10 else 1


if __name__ == "__main__":
    raise SystemExit(main())
