"""Simulated terminals (the real firmware, in this process) against one fleet server process:
sales/s at 1,000 terminals, then how many connected terminals it holds with heartbeats every
60 s, and its resident memory; beside a raw MQTT echo through the same broker, in the same run.

    .venv/bin/python bench/fleet.py [--json] [--count 10000] [--sales-terminals 1000]
                                    [--sales-seconds 30] [--hold 65] [--db sqlite|postgres]

Mosquitto (the project's configuration) and `fleet serve` run as their own processes; this one
runs the terminals (one thread steps every firmware Runtime) and seeds the database directly.
"connected" is the server's own count of online terminals (its support API) after the hold.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from bench.bench_stack import percentile  # noqa: E402
from bench.debit import Pipeline, echo_responder, echo_streams  # noqa: E402
from fleet_server.adapters.api_tokens import issue_token  # noqa: E402
from fleet_server.adapters.mosquitto import MosquittoProcess, find_mosquitto, free_port  # noqa
from simulator.engine import Engine  # noqa: E402
from simulator.fleet import build_terminals  # noqa: E402
from simulator.identities import make_identity  # noqa: E402
from simulator.scenario import from_dict  # noqa: E402
from simulator.seller import Seller  # noqa: E402
from simulator.stack import SIM_SECRET, LocalFleet  # noqa: E402
from simulator.terminal import SimTerminal  # noqa: E402
from simulator.world import World  # noqa: E402

BATCH = 500  # terminals booted at once during the ramp


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def step_all(terminals, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        turn = time.monotonic()
        for terminal in terminals:
            terminal.step()
        if time.monotonic() - turn < 0.005:
            time.sleep(0.005)


def ready(terminal) -> bool:
    return terminal.online and terminal.app is not None and terminal.app.config is not None


def wait_ready(terminals, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        step_all(terminals, 0.5)
        if all(ready(t) for t in terminals):
            break
    return time.monotonic() - start


def database(kind: str, work: Path) -> tuple[str, str | None]:
    if kind == "sqlite":
        return f"sqlite:///{work}/fleet.sqlite3", None
    import psycopg

    name = "ct_bench_" + uuid.uuid4().hex[:8]
    with psycopg.connect("host=127.0.0.1 dbname=test user=postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", name


def drop_database(name: str | None) -> None:
    if name:
        import psycopg

        with psycopg.connect("host=127.0.0.1 dbname=test user=postgres",
                             autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Server:
    """`fleet serve` in its own process on the given database and broker."""

    def __init__(self, db_url: str, broker_url: str, work: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, FLEET_MASTER_SECRET=SIM_SECRET, FLEET_SETTLEMENT_ENABLED="false",
                   FLEET_MQTT_CLIENT_ID="fleet-bench-server")
        self.log = open(work / "server.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fleet_server.entrypoints.cli", "serve", "--db", db_url,
             "--broker", broker_url, "--port", str(self.port)], env=env, cwd=REPO,
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise RuntimeError(f"fleet serve did not answer; see {work / 'server.log'}")

    def online(self, token: str) -> int:
        count, offset = 0, 0
        with httpx.Client(base_url=self.url, timeout=120,
                          headers={"Authorization": f"Bearer {token}"}) as http:
            while offset is not None:
                page = http.get("/api/v1/support/terminals", params={
                    "connection": "online", "limit": 500, "offset": offset}).json()
                count += len(page["items"])
                offset = page["next_offset"]
        return count

    def received(self) -> int:
        return httpx.get(self.url + "/health", timeout=30).json()["messages"]["received"]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def measure_echo(broker, streams: int, seconds: float) -> dict:
    responder = echo_responder(broker)
    pipe = Pipeline(broker)
    try:
        return pipe.run(echo_streams(streams, 100_000), seconds)
    finally:
        pipe.close()
        responder.loop_stop()
        responder.disconnect()


def measure_sales(control, work: Path, count: int, seconds: float) -> tuple[dict, list, World]:
    scenario = from_dict({"fleet": {"terminals": count, "sales": 2000, "think_s": [0, 0],
                                    "partners": 10, "max_s": seconds}, "mix": {"valid": 1}})
    world = World(control, scenario, time.gmtime().tm_year).create(count)
    terminals = build_terminals(control, world, work)
    for terminal in terminals:
        terminal.boot()
    connect_s = wait_ready(terminals, 180)
    sellers = [Seller(t, tw.plan, scenario, __import__("random").Random(tw.index),
                      time.monotonic()) for t, tw in zip(terminals, world.terminals, strict=True)]
    elapsed = Engine(terminals, sellers, scenario).run()
    sales = [s for seller in sellers for s in seller.sales
             if s.outcome not in (None, "unresolved")]  # the last one of each is in flight
    latency = [s.latency_ms for s in sales if s.latency_ms is not None]
    approved = sum(s.outcome == "approved" for s in sales)
    for seller in sellers:  # what was typed and not sent is abandoned: back to idle
        seller.t.press("BB")
    step_all(terminals, 3)
    return {"sales_terminals": count, "sales_connect_s": round(connect_s, 1),
            "sales_per_s": round(approved / elapsed, 1), "sales_answered": len(latency),
            "sales_not_approved": len(sales) - approved,
            "sale_p50_ms": percentile(latency, 50), "sale_p99_ms": percentile(latency, 99),
            }, terminals, world


def ramp(control, work: Path, terminals: list, world: World, target: int,
         budget_s: float) -> dict:
    host, port = control.broker_address
    start = time.monotonic()
    n = len(terminals)
    while n < target and time.monotonic() - start < budget_s:
        batch = []
        for _ in range(min(BATCH, target - n)):
            root = work / "flash" / f"r{n:05d}"
            make_identity(control, world.partners[n % len(world.partners)], root, host, port)
            batch.append(SimTerminal(root, name=f"r{n}").boot())
            n += 1
        terminals.extend(batch)
        wait_ready(terminals, 120)
        print(f"  {len(terminals)} terminals, {sum(ready(t) for t in terminals)} ready, "
              f"{time.monotonic() - start:.0f} s", file=sys.stderr, flush=True)
    return {"terminals_booted": len(terminals), "ramp_s": round(time.monotonic() - start, 1)}


def run(args) -> dict:
    binary = find_mosquitto()
    if not binary:
        raise SystemExit("mosquitto not found: apt-get install mosquitto")
    # The terminals' "flash" on tmpfs when there is one: provisioning fsyncs every file, and
    # thousands of identities are made here, which would otherwise time the disk.
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    work = Path(tempfile.mkdtemp(prefix="bench-fleet-", dir=shm))
    broker = MosquittoProcess(binary, work / "mosquitto")
    broker.start()
    db_url, pg_name = database(args.db, work)
    control = LocalFleet(db_url=db_url, broker_url=broker.url, workdir=work).open_control()
    token = issue_token(control.fleet.session_factory, "operator", None, "bench-fleet")
    out = {"db": args.db, "target": args.count, "hold_s": args.hold}
    server = terminals = None
    try:
        echo = measure_echo(broker, args.sales_terminals, args.sales_seconds / 2)
        out.update(echo_per_s=echo["per_s"], echo_p50_ms=echo["p50_ms"])
        server = Server(db_url, broker.url, work)
        out["server_rss_mb_idle"] = rss_mb(server.proc.pid)
        sales, terminals, world = measure_sales(control, work, args.sales_terminals,
                                                args.sales_seconds)
        out.update(sales)
        out["sales_ratio_to_echo"] = round(out["sales_per_s"] / out["echo_per_s"], 3)
        out.update(ramp(control, work, terminals, world, args.count, args.budget))
        before, started = server.received(), time.monotonic()
        step_all(terminals, args.hold)  # every terminal heartbeats at least once (60 s)
        out["messages_per_s_during_hold"] = round(
            (server.received() - before) / (time.monotonic() - started), 1)
        out["connected"] = server.online(token)
        out["connected_terminal_side"] = sum(ready(t) for t in terminals)
        out["reconnects"] = sum(max(0, t.runtime.mqtt.connections - 1) for t in terminals
                                if t.runtime is not None)
        out["server_rss_mb"] = rss_mb(server.proc.pid)
        out["simulator_rss_mb"] = rss_mb(os.getpid())
    finally:
        for terminal in terminals or []:
            terminal.power_cut()
        if server is not None:
            server.stop()
        control.stop()
        broker.stop()
        drop_database(pg_name)
        shutil.rmtree(work, ignore_errors=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--count", type=int, default=10_000, help="terminals to try to hold")
    parser.add_argument("--sales-terminals", type=int, default=1000)
    parser.add_argument("--sales-seconds", type=float, default=30)
    parser.add_argument("--hold", type=float, default=65, help="seconds all stay connected")
    parser.add_argument("--budget", type=float, default=300, help="ramp time limit, seconds")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    args = parser.parse_args()
    out = run(args)
    if args.json:
        print(json.dumps(out))
    else:
        for key, value in out.items():
            print(f"{key:>28}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
