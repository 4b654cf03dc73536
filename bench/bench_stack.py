"""Shared pieces of the benchmarks: MQTT clients with TCP_NODELAY, percentiles, and a fleet
server with seeded data and wire-level terminals whose requests are signed in advance.

The fleet server runs as its own process (`fleet serve`, as deployed): the load generator's
CPU is not the server's, and the server's own CPU time is read from the kernel."""

import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt

from fleet_server.adapters.mosquitto import free_port
from fleet_server.bootstrap import bootstrap, connect_broker
from fleet_server.domain.partners import Partner
from fleet_server.reference_ledger import rules
from fleet_server.reference_ledger.reference import PotView
from fleet_server.service_layer import registry
from fleet_server.settings import Settings
from protocol import tokens
from simulator.wire_terminal import WireTerminal

YEAR = 2026


def mqtt_client(broker, client_id: str) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv311)
    client.on_socket_open = lambda _c, _u, sock: sock.setsockopt(
        socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.max_inflight_messages_set(1000)
    connected = threading.Event()
    client.on_connect = lambda *a: connected.set()
    client.connect(broker.host, broker.port, keepalive=60)
    client.loop_start()
    if not connected.wait(10):
        raise RuntimeError("benchmark client could not connect")
    return client


def percentile(samples: list[float], pct: float) -> float:
    if not samples:
        return float("nan")
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[int(pct) - 1]


REPO = Path(__file__).resolve().parents[1]
SECRET = "bench-master-secret-0123456789abcdef"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads: what getrusage(RUSAGE_SELF)
    says inside it, read from outside (/proc/<pid>/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def database_cpu_seconds(db_name: str | None) -> dict[int, float] | None:
    """CPU time of each PostgreSQL backend serving `db_name` (pid -> seconds), read from
    /proc: the server here is local (None: not PostgreSQL, or not readable). What a backend
    did between two readings is only seen if it is still there at the second one (the
    server's pool keeps its connections)."""
    if not db_name:
        return None
    try:
        import psycopg

        with psycopg.connect("host=127.0.0.1 dbname=test user=postgres", autocommit=True,
                             connect_timeout=3) as conn:
            pids = [row[0] for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (db_name,))]
        return {pid: cpu_seconds(pid) for pid in pids}
    except Exception:  # a figure, never a failure of the bench
        return None


class ServerProcess:
    """`fleet serve` in its own process on the given database and broker."""

    def __init__(self, db_url: str, broker_url: str, workdir, name: str,
                 workers: int | None = None,
                 shared: bool = False):
        self.url = f"http://127.0.0.1:{free_port()}"
        env = dict(os.environ, FLEET_MASTER_SECRET=SECRET, FLEET_SETTLEMENT_ENABLED="false",
                   FLEET_MQTT_CLIENT_ID=name, FLEET_MQTT_SHARED="true" if shared else "false")
        if workers is not None:  # otherwise the server's own default
            env["FLEET_REQUEST_WORKERS"] = str(workers)
        self.log_path = Path(workdir) / f"{name}.log"
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fleet_server.entrypoints.cli", "serve", "--db", db_url,
             "--broker", broker_url, "--port", self.url.rsplit(":", 1)[1]],
            env=env, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(self.url + "/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"fleet serve did not get ready; see {self.log_path}")

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class ServerProcesses(list):
    """Several `fleet serve` sharing the requests ($share on Mosquitto): their CPU together."""

    def cpu_seconds(self) -> float:
        return sum(server.cpu_seconds() for server in self)

    def stop(self) -> None:
        for server in self:
            server.stop()


class BenchFleet:
    """A fleet server on `db` ("sqlite" or "postgres") with one partner and N terminals.

    in_process=True: the server runs in this process (bench/heartbeats.py reads its counters).
    Otherwise the data is seeded from this process, then `start()` runs `fleet serve`."""

    def __init__(self, broker_url: str, db: str, workdir, terminals: int,
                 in_process: bool = True, workers: int | None = None, servers: int = 1):
        self.available, self.why, self.fleet, self.server = True, "", None, None
        self.count, self.db, self.broker_url, self.workdir = terminals, db, broker_url, workdir
        self.workers, self.servers = workers, servers
        self._pg_name = None
        if db == "sqlite":
            url = f"sqlite:///{workdir}/bench-{uuid.uuid4().hex[:6]}.sqlite3"
        else:
            url = self._postgres_database()
        if not url:
            return
        self.db_url = url
        self.fleet = bootstrap(Settings(
            db_url=url, broker_url=broker_url, master_secret=SECRET, settlement_enabled=False,
            request_workers=workers, mqtt_client_id=f"fleet-bench-{db}"))
        if in_process:
            connect_broker(self.fleet)
            self.fleet.bus.connected.wait(10)

    def start(self) -> "ServerProcess | ServerProcesses":
        self.fleet.close()  # the seeding connections; the server process has its own
        self.fleet = None
        if self.servers == 1:
            self.server = ServerProcess(self.db_url, self.broker_url, self.workdir,
                                        f"fleet-bench-{self.db}", self.workers)
            return self.server
        self.server = ServerProcesses()
        for i in range(self.servers):
            self.server.append(ServerProcess(self.db_url, self.broker_url, self.workdir,
                                             f"fleet-bench-{self.db}-{i + 1}", self.workers,
                                             shared=True))
        return self.server

    def database_cpu_seconds(self) -> dict[int, float] | None:
        return database_cpu_seconds(self._pg_name)

    def _postgres_database(self) -> str | None:
        try:
            import psycopg

            self._pg_name = "ct_bench_" + uuid.uuid4().hex[:8]
            with psycopg.connect("host=127.0.0.1 dbname=test user=postgres",
                                 autocommit=True, connect_timeout=3) as conn:
                conn.execute(f'CREATE DATABASE "{self._pg_name}"')
            return f"postgresql+psycopg://postgres@127.0.0.1:5432/{self._pg_name}"
        except Exception as err:  # reported in the figures as skipped
            self.available, self.why = False, f"PostgreSQL not reachable ({err})"
            return None

    def prepare(self, sales_per_terminal: int) -> None:
        """Seed the ledger and sign every request in advance (the terminals' own CPU is not
        what is measured)."""
        ledger, now = self.fleet.ledger, datetime.now(UTC)
        program = ledger.create_program("Bench", YEAR, max_amount_cents=30000)
        partner = ledger.create_partner("Librairie Bench")
        registry.add_partner(self.fleet.uow(), Partner(partner, "Librairie Bench"))
        agreement = ledger.create_agreement(partner, program, "books", YEAR)
        ledger.set_agreement_status(agreement, rules.ACCEPTED)
        ledger.set_agreement_status(agreement, rules.SIGNED)
        self.streams_by_terminal = []
        self.pending = {}
        for _ in range(self.count + 1):
            card = tokens.make_card("".join(str(b % 10) for b in os.urandom(11)))
            ledger.create_beneficiary(program, card, [PotView("books", 90_000_000, None)])
            secrets = registry.register_device(self.fleet.uow(), self.fleet.keys, "bench", now)
            registry.assign_device(self.fleet.uow(), secrets.device_id, partner)
            registry.change_state(self.fleet.uow(), secrets.device_id, "activate")
            wire = WireTerminal(secrets.device_id, secrets.initial_key_id,
                                bytes.fromhex(secrets.initial_key_hex))
            stream = []
            for _ in range(sales_per_terminal):
                pending = wire.debit(card, 100, "books")
                self.pending[(pending.result_topic, pending.seq)] = pending
                stream.append((pending.topic, pending.payload, pending.result_topic, pending))
            self.streams_by_terminal.append(stream)

    def streams(self, count: int) -> list[list[tuple]]:
        # The one-in-flight run uses the spare terminal; the many run uses the others.
        if count == 1:
            return [self.streams_by_terminal[-1]]
        return self.streams_by_terminal[:count]

    def verify(self, results) -> int:
        bad = 0
        for item, payload in results:
            try:
                message = WireTerminal.read_result(item[3], payload)
                bad += message["st"] != "approved"
            except Exception:
                bad += 1
        return bad

    def close(self) -> None:
        if self.server:
            self.server.stop()
        if self.fleet:
            self.fleet.close()
        if self._pg_name:
            import psycopg

            with psycopg.connect("host=127.0.0.1 dbname=test user=postgres",
                                 autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self._pg_name}" WITH (FORCE)')
