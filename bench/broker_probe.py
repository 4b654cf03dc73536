"""What a clustered MQTT 3.1.1 broker does for the terminals, measured (not a test).

    .venv/bin/python bench/broker_probe.py [--json]

Starts its own brokers on free loopback ports: a 3-node NATS cluster (nats-server, MQTT on
JetStream) and, as the baseline, one Mosquitto. On each, with paho and MQTT 3.1.1:

- retained: a retained message published on node 1 is read by a new subscriber on node 3;
- session: a persistent session (clean_session=0) subscribed on node 1 goes away, a QoS 1
  message is published on node 2, the session comes back on node 3: is the message there?
- share: two subscribers of `$share/fleet/p/#` on nodes 1 and 2, 20 messages: who got what;
- failover: the node a persistent subscriber is on is killed (SIGKILL); the subscriber moves
  to the next node; seconds from the kill until a message published on the survivor reaches
  it, and whether what was published while it moved arrived.
Mosquitto is one node: session and failover become a restart of the same broker.
"""

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fleet_server.adapters.mosquitto import MosquittoProcess, find_mosquitto  # noqa: E402
from fleet_server.adapters.nats_cluster import NatsCluster, find_nats_server  # noqa: E402


class Sub:
    def __init__(self, port: int, client_id: str, clean: bool = False):
        self.got: list[bytes] = []
        self.connected = threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=mqtt.MQTTv311, clean_session=clean)
        self.c.on_message = lambda _c, _u, m: self.got.append(m.payload)
        self.c.on_connect = lambda *_a: self.connected.set()
        self.port = port

    def open(self, port: int | None = None, topics=()) -> "Sub":
        self.port = port or self.port
        self.connected.clear()
        self.c.connect("127.0.0.1", self.port, keepalive=5)
        self.c.loop_start()
        if not self.connected.wait(10):
            raise TimeoutError(f"no CONNACK from {self.port}")
        for t in topics:
            self.c.subscribe(t, 1)
        return self

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def publish(port: int, topic: str, payloads, retain=False) -> bool:
    """True when the broker acknowledged every message (PUBACK) within 10 s each."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{time.monotonic_ns()}",
                    protocol=mqtt.MQTTv311)
    try:
        c.connect("127.0.0.1", port)
    except OSError:
        return False
    c.loop_start()
    acked = True
    for p in payloads:
        info = c.publish(topic, p, qos=1, retain=retain)
        info.wait_for_publish(10)
        acked = acked and info.is_published()
    c.disconnect()
    c.loop_stop()
    return acked


def wait_for(pred, timeout=10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return False


def probe(ports: list[int], kill, restart) -> dict:
    """ports: MQTT port per node; kill(i)/restart(i) of node i."""
    a, b, c = ports[0], ports[1 % len(ports)], ports[2 % len(ports)]
    out = {}
    publish(a, "probe/ret", [b"config-1"], retain=True)
    s = Sub(c, "probe-ret", clean=True).open(topics=["probe/ret"])
    out["retained_seen_on_other_node"] = wait_for(lambda: b"config-1" in s.got, 5)
    s.close()

    s = Sub(a, "probe-sess").open(topics=["probe/q"])
    time.sleep(0.5)
    s.close()
    publish(b, "probe/q", [b"queued"])
    s.open(c)
    out["queued_qos1_resumed_on_other_node"] = wait_for(lambda: b"queued" in s.got, 5)
    s.close()

    s1 = Sub(a, "probe-share-1", clean=True).open(topics=["$share/fleet/p/#"])
    s2 = Sub(b, "probe-share-2", clean=True).open(topics=["$share/fleet/p/#"])
    time.sleep(0.5)
    publish(c, "p/x", [b"%d" % i for i in range(20)])
    wait_for(lambda: len(s1.got) + len(s2.got) >= 20, 3)
    out["share_delivered"] = [len(s1.got), len(s2.got)]
    s1.close()
    s2.close()

    s = Sub(a, "probe-fail").open(topics=["probe/f"])
    time.sleep(1.5)  # Mosquitto saves its sessions every second
    t0 = time.monotonic()
    kill(0)
    s.c.loop_stop()
    if len(ports) == 1:
        restart(0)
    survivors = ports[1:] or ports
    # Kept until acknowledged, as a terminal keeps a QoS 1 message: a node may take the
    # publish and answer nothing while its streams elect new leaders.
    while not publish(survivors[-1], "probe/f", [b"during"]) and time.monotonic() - t0 < 60:
        pass
    reached, i = None, 0
    while reached is None and time.monotonic() - t0 < 60:
        try:  # the next node in the list, as a terminal does
            s.open(survivors[i % len(survivors)])
        except (OSError, TimeoutError):
            s.c.loop_stop()
            i += 1
            continue
        if wait_for(lambda: b"during" in s.got, 10):
            reached = time.monotonic() - t0
        else:
            s.close()
            i += 1
    out["failover_s"] = round(reached, 2) if reached is not None else None
    out["published_while_moving_arrived"] = b"during" in s.got
    s.close()
    if len(ports) > 1:
        restart(0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="broker-probe-"))
    report = {}
    binary = find_nats_server()
    if binary:
        cluster = NatsCluster(binary, work / "nats")
        cluster.start()
        try:
            nodes = cluster.nodes

            def restart(i):
                nodes[i].start()
                cluster.wait_healthy()

            report["nats_3_nodes"] = probe([n.mqtt_port for n in nodes],
                                           lambda i: nodes[i].kill(), restart)
        finally:
            cluster.stop()
    else:
        report["nats_3_nodes"] = {"available": False}
    binary = find_mosquitto()
    if binary:
        broker = MosquittoProcess(binary, work / "mosquitto")
        broker.start()

        def kill(_i):
            broker.proc.kill()
            broker.proc.wait()

        try:
            report["mosquitto_1_node"] = probe([broker.port], kill, lambda _i: broker.start())
        finally:
            broker.stop()
    else:
        report["mosquitto_1_node"] = {"available": False}
    if args.json:
        print(json.dumps(report))
    else:
        for engine, facts in report.items():
            print(engine)
            for k, v in facts.items():
                print(f"  {k:36} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
