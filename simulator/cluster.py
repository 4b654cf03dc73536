"""The fleet as deployed past one machine, for bench/cluster.py and the CI crash test: a 3-node
NATS cluster as the MQTT broker, several `fleet serve` processes sharing the terminals'
requests through its JetStream work queue, one PostgreSQL. Seeding and reading the ledger back
go through this process's own connection to the database (LocalFleet.open_control); the
terminals get every node of the cluster in their configuration.

The simulator's restart faults become crashes here: `server_restart` SIGKILLs one server
process (the next in turn) while terminals are selling and starts it again after `down_s`;
`broker_restart` SIGKILLs one broker node and starts it again. Each kill's time is kept for
the recovery figure (recovery()).
"""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from fleet_server.adapters.mosquitto import free_port
from fleet_server.adapters.nats_cluster import NatsCluster, find_nats_server
from simulator.stack import LocalFleet

REPO = Path(__file__).resolve().parents[1]


class ServeProcess:
    """One `fleet serve` on the cluster; start() waits for /health/ready."""

    def __init__(self, name: str, env: dict, db_url: str, workdir: Path):
        self.name, self.env, self.db_url = name, env, db_url
        self.log_path = workdir / f"{name}.log"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "fleet_server.entrypoints.cli", "serve", "--db",
                 self.db_url, "--port", str(self.port)],
                env=dict(os.environ, **self.env, FLEET_MQTT_CLIENT_ID=self.name), cwd=REPO,
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                url = f"http://127.0.0.1:{self.port}/health/ready"
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()  # a process that never got ready is not left running
        raise RuntimeError(f"{self.name} did not get ready; see {self.log_path}")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


class ClusterFleet(LocalFleet):
    def __init__(self, db_url: str, servers: int = 2, workdir: Path | None = None,
                 workers: int | None = None):
        super().__init__(db_url=db_url, workdir=workdir)
        binary = find_nats_server()
        if not binary:
            raise RuntimeError("nats-server not found (apt-get install nats-server)")
        self.cluster = NatsCluster(binary, self.workdir / "nats")
        self.broker_url = self.cluster.broker_url
        self.servers: list[ServeProcess] = []
        self.server_count, self.server_workers = servers, workers
        self.kills: list[dict] = []  # {"what", "at" (monotonic), "back" (monotonic)}
        self._turn = {"server": 0, "broker": 0}
        self._lock = threading.Lock()

    def start(self) -> "ClusterFleet":
        try:
            return self._start()
        except BaseException:  # what started is stopped: nodes, servers, connections
            self.stop()
            raise

    def _start(self) -> "ClusterFleet":
        self.cluster.start()
        self.open_control()  # migrations, the ledger and the registry, from this process
        env = {"FLEET_MASTER_SECRET": self.master_secret, "FLEET_SETTLEMENT_ENABLED": "false",
               "FLEET_BROKER_URL": self.broker_url}
        if self.server_workers is not None:  # otherwise the servers' own default
            env["FLEET_REQUEST_WORKERS"] = str(self.server_workers)
        for i in range(self.server_count):
            # Each process starts on its own node (the list turned), as hosts would.
            urls, nats = self.cluster.mqtt_urls, self.cluster.nats_urls
            k = i % len(urls)
            server = ServeProcess(f"fleet-{i + 1}", dict(
                env, FLEET_BROKER_URL=",".join(urls[k:] + urls[:k]),
                FLEET_NATS_URL=",".join(nats[k:] + nats[:k])), self.db_url, self.workdir)
            server.start()
            self.servers.append(server)
        self.server_up.set()
        return self

    @property
    def broker_address(self):
        """Every node: the terminals' configuration lists them all (broker.hosts)."""
        return [["127.0.0.1", n.mqtt_port] for n in self.cluster.nodes], None

    can_restart_broker = True
    can_restart_server = True

    def restart_server(self, down_s: float = 1.0) -> None:
        server = self._next("server", self.servers)
        self._crash("server " + server.name, server.kill, server.start, down_s)

    def restart_broker(self, down_s: float = 1.0) -> None:
        node = self._next("broker", self.cluster.nodes)

        def back():
            node.start()
            self.cluster.wait_healthy(60)

        self._crash("broker node " + node.name, node.kill, back, down_s)

    def _next(self, what: str, items: list):
        with self._lock:
            item = items[self._turn[what] % len(items)]
            self._turn[what] += 1
        return item

    def _crash(self, what: str, kill, start, down_s: float) -> None:
        record = {"what": what, "at": time.monotonic(), "back": None}
        kill()
        self.kills.append(record)
        time.sleep(down_s)
        start()
        record["back"] = time.monotonic()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        if self.fleet is not None:
            self.fleet.close()
            self.fleet = None
        self.cluster.stop()


def wait_subscribed(terminals, timeout_s: float = 300.0) -> float:
    """Step the terminals until each is connected with its subscriptions acknowledged; returns
    the seconds it took. On NATS every QoS 1 subscription of a persistent session is a
    replicated JetStream consumer (six per terminal), made when the SUBSCRIBE arrives: a fleet
    booting at once waits for them, and a result published before its terminal's consumer
    exists is not queued for it (the terminal's retransmission gets it again). A real fleet
    boots over hours; the bench measures crashes, not a cold start, so it waits."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        for terminal in terminals:
            terminal.step()
        mqtt = [t.runtime.mqtt for t in terminals if t.runtime is not None]
        if len(mqtt) == len(terminals) and all(m.connected and not m._sub_wait for m in mqtt):
            break
        time.sleep(0.005)
    return time.monotonic() - start


def recovery(sales, kills: list[dict], window_s: float = 10.0) -> list[dict]:
    """Per kill, how long a sale waited on account of it: over the sales in flight at the kill
    (validated before, answered after) and those validated within window_s after it (and
    before the next kill), the
    longest time from max(validation, kill) to the answer. `in_flight` counts the first."""
    out = []
    starts = sorted(k["at"] for k in kills)
    for kill in kills:
        at, worst, in_flight = kill["at"], 0.0, 0
        # A sale validated after the next kill is that kill's, not this one's.
        until = min([t for t in starts if t > at] + [at + window_s])
        for sale in sales:
            if sale.confirmed is None or sale.latency_ms is None:
                continue
            answered = sale.confirmed + sale.latency_ms / 1000
            if answered < at or sale.confirmed > until:
                continue
            in_flight += sale.confirmed <= at
            worst = max(worst, answered - max(sale.confirmed, at))
        out.append({"what": kill["what"], "recovery_s": round(worst, 2),
                    "in_flight_at_kill": in_flight})
    return out
