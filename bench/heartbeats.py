"""Heartbeats per second the fleet server ingests from 10,000 terminals, beside the raw broker rate.

    .venv/bin/python bench/heartbeats.py [--json] [--terminals 10000] [--rounds 5]
                                         [--db sqlite|postgres]

Starts the project's Mosquitto and a fleet server (SQLite by default), registers the terminals,
and publishes `rounds` heartbeats per terminal (QoS 0, as terminals send them) from protocol-
level publishers in processes of their own, as fast as they go. Two subscribers hear them at
the same time, so a busy machine slows both alike:
- raw: a plain MQTT subscriber on t/+/hb, in a process of its own, that only counts;
- server: the fleet server's own subscription: parse, validate, update the live view, queue
  one row per terminal per 30 s; its ticker writes the batches (the rows are counted after).
Rates are messages handled per second between the first and the last one received (QoS 0: a
subscriber that falls behind loses messages at the broker, counted as received < sent). The
ratio server/raw says what the server's cheap path costs against just receiving them.
"""

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import func, insert, select  # noqa: E402

from bench.bench_stack import BenchFleet, mqtt_client  # noqa: E402
from fleet_server.adapters import orm  # noqa: E402
from fleet_server.adapters.mosquitto import MosquittoProcess, find_mosquitto  # noqa: E402
from fleet_server.adapters.orm_support import support_samples  # noqa: E402
from protocol import messages, tokens, topics  # noqa: E402

HB_FILTER = "t/+/hb"


def register(fleet, count: int) -> list[str]:
    """Terminals in the registry, in one insert (registering them one by one is not measured)."""
    now = datetime.now(UTC)
    ids = [tokens.make_device_id(tokens.random_payload32(8, os.urandom)) for _ in range(count)]
    with fleet.engine.begin() as conn:
        conn.execute(insert(orm.devices), [
            {"device_id": dev, "model": "bench", "initial_key_id": f"FFFF0000{i + 1:08X}",
             "state": "active", "key_version": 1, "highest_seq": 0, "created_at": now}
            for i, dev in enumerate(ids)])
    return ids


def heartbeats(ids: list[str]) -> list[tuple[str, bytes]]:
    ts = int(time.time())
    out = []
    for n, dev in enumerate(ids):
        body = {"dev": dev, "ts": ts, "up": 3600 + n % 600, "heap": 80000 + n % 5000,
                "fw": "0.1.0", "boots": 3, "rst": "power_on", "jn": 0, "scn": "ok",
                "rssi": -50 - n % 40, "sales": n % 20}
        out.append((topics.topic(dev, "heartbeat"),
                    messages.encode(messages.build("heartbeat", body))))
    return out


def _pump(host: str, port: int, part: list[tuple[str, bytes]], rounds: int, name: str) -> None:
    class Broker:  # what mqtt_client needs
        pass

    broker = Broker()
    broker.host, broker.port = host, port
    client = mqtt_client(broker, name)
    for _ in range(rounds):
        for topic, payload in part:
            client.publish(topic, payload, qos=0)
    time.sleep(0.5)  # what paho still has in its buffers
    client.loop_stop()
    client.disconnect()


def publish_all(broker, batch: list[tuple[str, bytes]], rounds: int, publishers: int) -> float:
    """Every heartbeat `rounds` times, from `publishers` processes of their own (the terminals
    are other machines: their CPU must not be taken from the server's); returns seconds."""
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_pump, args=(broker.host, broker.port, batch[i::publishers],
                                             rounds, f"bench-hb-pub-{i}-{os.getpid()}"))
             for i in range(publishers)]
    start = time.perf_counter()
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    return time.perf_counter() - start


class Counter:
    def __init__(self):
        self.n, self.first, self.last = 0, None, None

    def tick(self, n: int = 1):
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        self.n += n
        self.last = now

    def rate(self) -> float:
        if not self.n or self.last is None or self.last <= self.first:
            return 0.0
        return self.n / (self.last - self.first)


def wait_quiet(read, expected: int, idle_s: float = 2.0, limit_s: float = 300.0) -> int:
    """Wait until `expected` arrived or nothing new came for idle_s."""
    deadline, last, last_change = time.monotonic() + limit_s, -1, time.monotonic()
    while time.monotonic() < deadline:
        value = read()
        if value >= expected:
            return value
        if value != last:
            last, last_change = value, time.monotonic()
        elif time.monotonic() - last_change > idle_s:
            return value
        time.sleep(0.05)
    return read()


def _raw_counter(host: str, port: int, expected: int, ready, results) -> None:
    """A plain subscriber in a process of its own: counts heartbeats, nothing else."""
    class Broker:
        pass

    broker = Broker()
    broker.host, broker.port = host, port
    counter = Counter()
    client = mqtt_client(broker, f"bench-hb-raw-{os.getpid()}")
    client.on_message = lambda _c, _u, _m: counter.tick()
    client.subscribe(HB_FILTER, qos=0)
    time.sleep(0.5)
    ready.set()
    wait_quiet(lambda: counter.n, expected, idle_s=3.0)
    client.loop_stop()
    client.disconnect()
    results.put((counter.n, counter.rate()))


def run(args) -> dict:
    binary = find_mosquitto()
    if not binary:
        raise SystemExit("mosquitto not found: apt-get install mosquitto")
    work = Path(tempfile.mkdtemp(prefix="bench-hb-"))
    broker = MosquittoProcess(binary, work / "mosquitto")
    broker.start()
    fleet = BenchFleet(broker.url, args.db, work, 0)
    if not fleet.available:
        broker.stop()
        raise SystemExit(fleet.why)
    total = args.terminals * args.rounds
    out = {"terminals": args.terminals, "rounds": args.rounds, "heartbeats": total,
           "db": args.db, "publishers": args.publishers}
    ctx = multiprocessing.get_context("fork")
    try:
        server = fleet.fleet
        ids = register(server, args.terminals)
        batch = heartbeats(ids)
        # The raw subscriber and the server hear the same heartbeats at the same time, so a
        # busy machine slows both alike; the raw one runs in its own process.
        ready, results = ctx.Event(), ctx.Queue()
        raw = ctx.Process(target=_raw_counter, args=(broker.host, broker.port, total, ready,
                                                     results))
        raw.start()
        ready.wait(20)
        status = server.dispatcher.status
        seen = Counter()
        before = status.heartbeats
        watcher_stop = threading.Event()

        def watch():  # the server's own counter, sampled: first and last change times
            last = before
            while not watcher_stop.is_set():
                now = status.heartbeats
                if now != last:
                    seen.tick(now - last)
                    last = now
                time.sleep(0.005)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        publish_s = publish_all(broker, batch, args.rounds, args.publishers)
        out.update(publish_s=round(publish_s, 3), offered_per_s=round(total / publish_s))
        wait_quiet(lambda: status.heartbeats - before, total, idle_s=3.0)
        watcher_stop.set()
        watcher.join()
        raw_n, raw_rate = results.get(timeout=60)
        raw.join(10)
        status.flush()
        with server.engine.connect() as conn:
            rows = conn.execute(select(func.count()).select_from(support_samples)).scalar()
        out.update(raw_received=raw_n, raw_per_s=round(raw_rate),
                   server_handled=status.heartbeats - before, server_per_s=round(seen.rate()),
                   server_unacknowledged_full_queue=server.bus.dropped,
                   database_rows_written=rows, live_views=len(status.live))
        out["ratio_server_to_raw"] = round(out["server_per_s"] / out["raw_per_s"], 3) \
            if out["raw_per_s"] else None
    finally:
        fleet.close()
        broker.stop()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--terminals", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5, help="heartbeats per terminal")
    parser.add_argument("--publishers", type=int, default=2)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    out = run(args)
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{out['terminals']} terminals x {out['rounds']} heartbeats = {out['heartbeats']}")
    print(f"offered: {out['offered_per_s']}/s; raw subscriber: {out['raw_per_s']}/s "
          f"({out['raw_received']} received)")
    print(f"fleet server ({out['db']}): {out['server_per_s']}/s ({out['server_handled']} "
          f"handled, {out['server_unacknowledged_full_queue']} refused by a full queue), "
          f"x{out['ratio_server_to_raw']} raw; {out['database_rows_written']} chart rows "
          f"written in batches, {out['live_views']} terminals in the live view")
    return 0


if __name__ == "__main__":
    sys.exit(main())
