"""A NATS cluster as the MQTT broker: config rendering and a process wrapper for tests and
benches (3 nodes on loopback, free ports, own data folders; the system's NATS is never used).

Why NATS (docs/deployment.md, "Broker cluster"): its MQTT sessions, queued QoS 1 messages and
retained messages live in JetStream streams replicated on 3 nodes, so a terminal whose node
died finds its session, its pending results and its retained configuration on any other node.
It has no `$share` for MQTT 3.1.1 clients: fleet servers share requests through a JetStream
work-queue stream instead (adapters/nats_requests.py).
"""

import json
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from fleet_server.adapters.mosquitto import free_port


def find_nats_server() -> str | None:
    return shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None)


def render_node_config(name: str, client_port: int, mqtt_port: int, cluster_port: int,
                       http_port: int, routes: list[int], store_dir: Path,
                       host: str = "127.0.0.1") -> str:
    """One node: core NATS, MQTT and the cluster route on loopback; JetStream on disk (MQTT
    needs it, and a node that comes back must find its share of the replicated streams)."""
    route_lines = ", ".join(f'"nats-route://{host}:{p}"' for p in routes)
    return "\n".join([
        f'server_name: "{name}"',
        f"listen: {host}:{client_port}",
        f"http: {host}:{http_port}",
        f'jetstream {{ store_dir: "{store_dir}" }}',
        f'cluster {{ name: "fleet", listen: {host}:{cluster_port}, routes: [{route_lines}] }}',
        # ack_wait: a QoS 1 message a subscriber did not acknowledge is sent again after this
        # long (the default 30 s would hold a terminal's result that long after a lost PUBACK).
        # stream_replicas: the MQTT streams (sessions, queued and retained messages) are made
        # when the first MQTT client connects, with as many replicas as nodes seen then; a
        # node that starts before its routes are up would make them R2, and R2 stalls when
        # one of the two dies.
        f'mqtt {{ listen: {host}:{mqtt_port}, ack_wait: "10s", stream_replicas: 3 }}',
        "",
    ])


class NatsNode:
    def __init__(self, binary: str, workdir: Path, name: str, ports: dict, routes: list[int]):
        self.binary, self.workdir, self.name = binary, workdir, name
        self.ports, self.routes = ports, routes
        self.proc: subprocess.Popen | None = None

    @property
    def mqtt_port(self) -> int:
        return self.ports["mqtt"]

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.ports['client']}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "nats.conf"
        conf.write_text(render_node_config(
            self.name, self.ports["client"], self.ports["mqtt"], self.ports["cluster"],
            self.ports["http"], self.routes, self.workdir / "js"))
        log = open(self.workdir / "nats.log", "ab")
        self.proc = subprocess.Popen([self.binary, "-c", str(conf)], stdout=log,
                                     stderr=subprocess.STDOUT)

    def _get(self, path: str) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ports['http']}{path}",
                                    timeout=1) as resp:
            return json.loads(resp.read())

    def healthy(self, peers: int = 0) -> bool:
        """JetStream up, routes to `peers` other nodes, and a metadata leader elected."""
        try:
            if self._get("/healthz?js-enabled-only=true").get("status") != "ok":
                return False
            if self._get("/routez").get("num_routes", 0) < peers:
                return False
            return bool(self._get("/jsz").get("meta_cluster", {}).get("leader"))
        except (OSError, ValueError):
            return False

    def kill(self) -> None:
        """SIGKILL: no goodbye to clients or to the other nodes."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class NatsCluster:
    """N nodes routed to each other; MQTT on each node's own port."""

    def __init__(self, binary: str, workdir: Path, nodes: int = 3):
        self.binary, self.workdir = binary, Path(workdir)
        ports = [{k: free_port() for k in ("client", "mqtt", "cluster", "http")}
                 for _ in range(nodes)]
        self.nodes = [NatsNode(binary, self.workdir / f"n{i + 1}", f"n{i + 1}", p,
                               [q["cluster"] for q in ports if q is not p])
                      for i, p in enumerate(ports)]

    @property
    def mqtt_urls(self) -> list[str]:
        return [f"mqtt://127.0.0.1:{n.mqtt_port}" for n in self.nodes]

    @property
    def broker_url(self) -> str:
        """The comma-separated form FLEET_BROKER_URL takes for a cluster."""
        return ",".join(self.mqtt_urls)

    @property
    def nats_urls(self) -> list[str]:
        return [n.nats_url for n in self.nodes]

    def start(self, timeout: float = 30.0) -> None:
        for node in self.nodes:
            node.start()
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float = 30.0, nodes=None) -> float:
        """Until every node (or those given) says JetStream is up; returns the seconds taken."""
        nodes = nodes or self.nodes
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            for node in nodes:
                if node.proc is not None and node.proc.poll() is not None:
                    raise RuntimeError(f"nats-server {node.name} exited; see "
                                       f"{node.workdir / 'nats.log'}")
            running = sum(1 for n in self.nodes if n.proc is not None)
            if all(node.healthy(running - 1) for node in nodes):
                return time.monotonic() - start
            time.sleep(0.2)
        raise TimeoutError(f"NATS cluster not healthy after {timeout}s ({self.workdir})")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
