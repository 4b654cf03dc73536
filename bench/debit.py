"""Debit round trip and durable debits per second, beside a raw MQTT echo through the same broker.

    .venv/bin/python bench/debit.py [--quick] [--json] [--db sqlite|postgres|both]
                                    [--terminals N] [--workers W] [--servers S]

Starts the project's Mosquitto (TCP_NODELAY) and, per database, a fleet server with the
reference ledger in its own process (`fleet serve`, as deployed). Baseline: a QoS 1 echo client
(subscribe, republish) on the same broker, so the ratio says what the server adds to the
network. "One in flight": one terminal, one request at a time, latency percentiles. "Many in
flight": N terminals each with one request pending (as real terminals do), durable debits per
second = approved results received per second, beside the echo with the same N in flight; the
server process's CPU time (user + system, all threads) over that run divided by the debits
answered, and the same for the PostgreSQL backends of the bench's database and for Mosquitto
(`db_cpu_ms_per_debit`, `broker_cpu_ms_per_debit`; null for SQLite, inside the server) and
for this process, the load generator (`load_cpu_ms_per_debit`): all share the machine's
cores. Every result is MAC-checked after the run.
"""

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_stack import BenchFleet, cpu_seconds, mqtt_client, percentile  # noqa: E402
from fleet_server.adapters.mosquitto import MosquittoProcess, find_mosquitto  # noqa: E402
from fleet_server.settings import Settings  # noqa: E402


class Pipeline:
    """One MQTT client carrying many logical requesters, each with one request in flight."""

    def __init__(self, broker):
        self.client = mqtt_client(broker, "bench-pipeline")
        self.client.on_message = self._on_message
        self.lock = threading.Lock()
        self.samples: list[float] = []
        self.results: list[tuple] = []

    def _on_message(self, _c, _u, msg):
        now = time.perf_counter()
        key = msg.topic
        with self.lock:
            state = self.pending.pop(key, None)
        if state is None:
            return
        sent_at, item, queue_ = state
        self.samples.append((now - sent_at) * 1000)
        self.results.append((item, msg.payload))
        if self.running and queue_:
            self._send(queue_.pop(0), queue_)

    def _send(self, item, queue_):
        topic, payload, res_topic = item[0], item[1], item[2]
        with self.lock:
            self.pending[res_topic] = (time.perf_counter(), item, queue_)
        self.client.publish(topic, payload, qos=1)

    def run(self, streams: list[list[tuple]], seconds: float) -> dict:
        self.pending, self.samples, self.results, self.running = {}, [], [], True
        filters = sorted({item[2] for s in streams for item in s})
        self.client.subscribe([(f, 1) for f in filters])
        time.sleep(0.3)
        start = time.perf_counter()
        for stream in streams:
            self._send(stream.pop(0), stream)
        time.sleep(seconds)
        self.running = False
        elapsed = time.perf_counter() - start
        time.sleep(1.0)  # let the last answers arrive
        done = len(self.results)
        return {"completed": done, "per_s": round(done / elapsed, 1),
                "p50_ms": round(percentile(self.samples, 50), 3),
                "p99_ms": round(percentile(self.samples, 99), 3)}

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def echo_responder(broker):
    client = mqtt_client(broker, "bench-echo")
    client.on_message = lambda c, _u, m: c.publish(m.topic[:-3] + "res", m.payload, qos=1)
    client.subscribe("bench/+/req", qos=1)
    time.sleep(0.3)
    return client


def echo_streams(count: int, per_stream: int, size: int = 180):
    payload = os.urandom(size // 2).hex().encode()
    return [[(f"bench/e{i}/req", payload, f"bench/e{i}/res") for _ in range(per_stream)]
            for i in range(count)]


def measure(broker, streams_fn, seconds_seq, seconds_many, terminals, meters=None):
    """meters: name -> a function giving CPU seconds (a number, or per process; None:
    unknown), read around the many-in-flight run; many["cpu_s"][name] is what was spent."""
    pipe = Pipeline(broker)
    meters = meters or {}
    try:
        one = pipe.run(streams_fn(1), seconds_seq)
        results = pipe.results
        before = {name: meter() for name, meter in meters.items()}
        many = pipe.run(streams_fn(terminals), seconds_many)
        many["cpu_s"] = {name: _spent(before[name], meter()) for name, meter in meters.items()}
        results = results + pipe.results
    finally:
        pipe.close()
    return one, many, results


def _spent(before, after) -> float | None:
    """CPU seconds between two readings of a meter: a number, or per process (pid ->
    seconds), where a process that started in between counts from zero."""
    if before is None or after is None:
        return None
    if isinstance(after, dict):
        return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())
    return after - before


def run(args) -> dict:
    binary = find_mosquitto()
    if not binary:
        raise SystemExit("mosquitto not found: apt-get install mosquitto")
    work = Path(tempfile.mkdtemp(prefix="bench-debit-"))
    broker = MosquittoProcess(binary, work / "mosquitto")
    broker.start()
    seq_s, many_s = (3, 5) if args.quick else (8, 15)
    per = 20000
    out = {"terminals": args.terminals, "quick": args.quick, "servers": args.servers,
           "workers": Settings(request_workers=args.workers).request_worker_count()}
    try:
        responder = echo_responder(broker)
        one, many, _ = measure(broker, lambda n: echo_streams(n, per), seq_s, many_s,
                               args.terminals)
        responder.loop_stop()
        responder.disconnect()
        out.update(echo_p50_ms=one["p50_ms"], echo_p99_ms=one["p99_ms"],
                   echo_per_s=many["per_s"])
        dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
        out["by_db"] = {}
        for db in dbs:
            fleet = BenchFleet(broker.url, db, work, args.terminals, in_process=False,
                               workers=args.workers, servers=args.servers)
            if not fleet.available:
                out["by_db"][db] = {"skipped": fleet.why}
                continue
            try:
                sales = max(200, int(3000 * many_s)) // args.terminals + 50
                fleet.prepare(sales)
                server = fleet.start()
                meters = {"server": server.cpu_seconds, "db": fleet.database_cpu_seconds,
                          "broker": lambda: broker.pid and cpu_seconds(broker.pid),
                          "load": time.process_time}  # this process: the terminals
                one, many, results = measure(broker, fleet.streams, seq_s, many_s,
                                             args.terminals, meters)
                bad = fleet.verify(results)
            finally:
                fleet.close()
            out["by_db"][db] = {
                "debit_p50_ms": one["p50_ms"], "debit_p99_ms": one["p99_ms"],
                "ratio_p50": round(one["p50_ms"] / out["echo_p50_ms"], 2),
                "debit_per_s": many["per_s"], "many_p50_ms": many["p50_ms"],
                "many_p99_ms": many["p99_ms"], "throughput_ratio":
                    round(many["per_s"] / out["echo_per_s"], 3),
                **{f"{name}_cpu_ms_per_debit": None if spent is None else
                   round(1000 * spent / max(1, many["completed"]), 3)
                   for name, spent in many["cpu_s"].items()},
                "results_checked": len(results), "results_not_approved_or_bad_mac": bad}
    finally:
        broker.stop()
    first = next((v for v in out["by_db"].values() if "debit_p50_ms" in v), {})
    out.update(db=",".join(k for k, v in out["by_db"].items() if "debit_p50_ms" in v),
               **{k: first.get(k) for k in ("debit_p50_ms", "ratio_p50", "debit_per_s",
                                            "throughput_ratio", "server_cpu_ms_per_debit",
                                            "db_cpu_ms_per_debit", "broker_cpu_ms_per_debit")})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="finish within a minute")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--terminals", type=int, default=200,
                        help="requests in flight in the throughput run (default 200)")
    parser.add_argument("--workers", type=int, default=None,
                        help="the server's request workers (FLEET_REQUEST_WORKERS; default: "
                             "the server's own, 2 with its built-in ledger)")
    parser.add_argument("--servers", type=int, default=1,
                        help="`fleet serve` processes sharing the requests ($share); the "
                             "server CPU figure is theirs together (default 1)")
    args = parser.parse_args()
    if args.quick and args.db == "both":
        args.db = "sqlite"
    out = run(args)
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"echo (raw QoS 1 through the same Mosquitto): p50 {out['echo_p50_ms']} ms, "
          f"p99 {out['echo_p99_ms']} ms, {out['echo_per_s']}/s with {args.terminals} in flight")
    for db, f in out["by_db"].items():
        if "skipped" in f:
            print(f"{db}: skipped ({f['skipped']})")
            continue
        print(f"{db}: debit p50 {f['debit_p50_ms']} ms (x{f['ratio_p50']} echo), "
              f"p99 {f['debit_p99_ms']} ms; {f['debit_per_s']} durable debits/s with "
              f"{args.terminals} in flight (x{f['throughput_ratio']} echo), "
              f"p50 {f['many_p50_ms']} ms; CPU per debit: server "
              f"{f['server_cpu_ms_per_debit']} ms, database {f['db_cpu_ms_per_debit']} ms, "
              f"broker {f['broker_cpu_ms_per_debit']} ms, load generator "
              f"{f['load_cpu_ms_per_debit']} ms; {f['results_checked']} results checked, "
              f"{f['results_not_approved_or_bad_mac']} bad")
    return 0


if __name__ == "__main__":
    sys.exit(main())
