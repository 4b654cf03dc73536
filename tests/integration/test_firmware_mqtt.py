"""The terminal's MQTT client (firmware/terminal/mqtt) on the MicroPython binary and on CPython,
against the project's Mosquitto: packets byte for byte, QoS 1 round trip, retained last will,
reconnection after a broker restart with a persistent session, and TLS with a client certificate.
The agent script (tests/micropython/mqtt_agent.py) prints one line per client event; the packets'
vectors run on both runtimes in tests/micropython/test_mqtt_packet_vectors.py."""

import datetime
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from polling import eventually

from fleet_server.adapters.mosquitto import MosquittoProcess, find_mosquitto, free_port

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests/micropython/mqtt_agent.py"
pytestmark = [pytest.mark.micropython, pytest.mark.broker]


class Agent:
    """mqtt_agent.py in a subprocess; its stdout lines are collected by a thread."""

    def __init__(self, command):
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, cwd=REPO)
        self.lines, self._queue = [], queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self._queue.put((time.monotonic(), line.rstrip("\n")))

    def expect(self, text, timeout=15.0):
        """Waits for a line starting with text; returns the time it arrived."""
        for at, line in self.lines:
            if line.startswith(text):
                return at
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                at, line = self._queue.get(timeout=0.05)
            except queue.Empty:
                continue
            self.lines.append((at, line))
            if line.startswith(text):
                return at
        raise AssertionError(f"no line {text!r} in {timeout}s; got:\n" + self.output())

    def drain(self):
        while not self._queue.empty():
            self.lines.append(self._queue.get())

    def output(self):
        return "\n".join(line for _, line in self.lines)

    def kill(self):
        self.proc.kill()
        self.proc.wait(5)


@pytest.fixture(params=["micropython", "cpython"])
def start_agent(request):
    agents = []

    def start(port, client_id, backoff_ms=1000, tls=()):
        if request.param == "micropython":
            command = [request.getfixturevalue("micropython_bin"), "-X", "heapsize=256K"]
        else:
            command = [sys.executable]
        agent = Agent(command + [str(SCRIPT), str(REPO), str(port), client_id,
                                 str(backoff_ms), *tls])
        agents.append(agent)
        return agent

    start.runtime = request.param
    yield start
    for agent in agents:
        agent.kill()


class Watcher:
    """A paho subscriber that records (topic, payload, retain) as they arrive."""

    def __init__(self, port, topic):
        self.got = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id="w-" + uuid.uuid4().hex)
        self.client.on_message = lambda c, u, m: self.got.put((m.topic, m.payload, m.retain))
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, 1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def wait_for(self, payload, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                message = self.got.get(timeout=0.1)
            except queue.Empty:
                continue
            if message[1] == payload:
                return message
        raise AssertionError(f"no {payload!r} within {timeout}s")

    def publish(self, topic, payload):
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def test_qos1_round_trip_and_retained_will(mosquitto, start_agent):
    cid = "term-" + uuid.uuid4().hex[:8]
    status = Watcher(mosquitto.port, f"test/{cid}/status")
    try:
        agent = start_agent(mosquitto.port, cid)
        agent.expect("CONNECTED 1 session=0")
        agent.expect(f"RECEIVED test/{cid}/echo ping-1")  # QoS 1 to itself, through the broker
        if start_agent.runtime == "micropython":  # heap held by the client once connected
            agent.expect("MEM connected_client_bytes=")
            used = int(agent.output().split("connected_client_bytes=")[1].split()[0])
            assert used < 6 * 1024, agent.output()
        assert status.wait_for(b"online")
        status.publish(f"test/{cid}/in", b"hello")
        agent.expect(f"RECEIVED test/{cid}/in hello")
        agent.kill()  # no DISCONNECT: the broker sees the socket die and sends the will
        assert status.wait_for(b"offline")
    finally:
        status.close()
    late = Watcher(mosquitto.port, f"test/{cid}/status")
    try:
        assert late.wait_for(b"offline") == (f"test/{cid}/status", b"offline", True)
    finally:
        late.close()


@pytest.fixture
def private_broker():
    """A broker of our own to restart: the session fixture is shared with other tests. The
    directory is reachable by the 'mosquitto' user that a root-started broker drops to, else
    persistence (the session kept across the restart) fails with 'Permission denied'."""
    binary = find_mosquitto()
    if not binary:
        pytest.skip("mosquitto not installed")
    workdir = Path(tempfile.mkdtemp(prefix="mqtt-restart-"))
    (workdir / "data").mkdir()
    os.chmod(workdir, 0o755)
    os.chmod(workdir / "data", 0o777)
    broker = MosquittoProcess(binary, workdir)
    broker.start()
    yield broker
    broker.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def test_reconnects_after_broker_restart_and_gets_what_was_published_meanwhile(
        private_broker, start_agent):
    cid = "term-" + uuid.uuid4().hex[:8]
    agent = start_agent(private_broker.port, cid, backoff_ms=3000)  # first retry in 1.5..3 s
    agent.expect("CONNECTED 1 session=0")
    agent.expect(f"RECEIVED test/{cid}/echo ping-1")
    private_broker.restart()
    sender = Watcher(private_broker.port, "test/none")
    try:
        sender.publish(f"test/{cid}/in", b"while-away")
        published_at = time.monotonic()
    finally:
        sender.close()
    agent.expect("DOWN")
    reconnected_at = agent.expect("CONNECTED 2 session=1")  # the broker kept the session
    assert published_at < reconnected_at, agent.output()
    agent.expect(f"RECEIVED test/{cid}/in while-away")
    agent.expect(f"RECEIVED test/{cid}/echo ping-2")


# ---- TLS with a client certificate ------------------------------------------------------------

def _make_pki(directory: Path, hostname: str):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    der, pem = serialization.Encoding.DER, serialization.Encoding.PEM

    def cert(name, key, issuer_name, issuer_key, ca, san=None):
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]),
                                            critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    def key_bytes(key, encoding, fmt=serialization.PrivateFormat.TraditionalOpenSSL):
        return key.private_bytes(encoding, fmt, serialization.NoEncryption())

    ca_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = cert("test CA", ca_key, "test CA", ca_key, True)
    server = cert(hostname, server_key, "test CA", ca_key, False, san=hostname)
    client = cert("terminal-1", client_key, "test CA", ca_key, False)
    files = {
        "ca.pem": ca.public_bytes(pem), "ca.der": ca.public_bytes(der),
        "server.pem": server.public_bytes(pem),
        "server.key": key_bytes(server_key, pem),
        "client.crt.pem": client.public_bytes(pem), "client.crt.der": client.public_bytes(der),
        "client.key.pem": key_bytes(client_key, pem, serialization.PrivateFormat.PKCS8),
        "client.key.der": key_bytes(client_key, der),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (directory / name).write_bytes(data)
        os.chmod(directory / name, 0o644)


@pytest.fixture(scope="module")
def tls_broker():
    binary = find_mosquitto()
    if not binary:
        pytest.skip("mosquitto not installed")
    workdir = Path(tempfile.mkdtemp(prefix="mqtt-tls-"))
    os.chmod(workdir, 0o755)
    _make_pki(workdir / "pki", "localhost")
    _make_pki(workdir / "other", "localhost")
    shutil.copytree(workdir / "pki", workdir / "wrongca")  # our client cert, but trusts a CA
    shutil.copy(workdir / "other/ca.der", workdir / "wrongca/ca.der")  # the broker does not use
    port = free_port()
    (workdir / "mosquitto.conf").write_text("\n".join([
        "per_listener_settings false", "allow_anonymous true", "set_tcp_nodelay true",
        "log_type error", "log_type warning", "log_dest stderr",
        f"listener {port} 127.0.0.1",
        f"cafile {workdir}/pki/ca.pem", f"certfile {workdir}/pki/server.pem",
        f"keyfile {workdir}/pki/server.key", "require_certificate true", ""]))
    log = open(workdir / "mosquitto.log", "ab")
    proc = subprocess.Popen([binary, "-c", str(workdir / "mosquitto.conf")], stdout=log,
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise AssertionError((workdir / "mosquitto.log").read_text()) from None
            time.sleep(0.05)
    yield port, workdir
    proc.terminate()
    proc.wait(5)
    log.close()
    shutil.rmtree(workdir, ignore_errors=True)


def test_tls_with_client_certificate_and_verified_broker(tls_broker, start_agent):
    port, workdir = tls_broker
    cid = "tls-" + uuid.uuid4().hex[:8]
    agent = start_agent(port, cid, 1000, ("tls", str(workdir / "pki"), "localhost"))
    agent.expect("CONNECTED 1 session=0", timeout=30)
    agent.expect(f"RECEIVED test/{cid}/echo ping-1")


@pytest.mark.parametrize("pki,hostname", [("wrongca", "localhost"), ("pki", "broker.invalid")])
def test_tls_refuses_a_broker_it_cannot_verify(tls_broker, start_agent, pki, hostname):
    """CERT_REQUIRED really checks: a broker signed by another CA, or under another name, is
    refused (MicroPython would accept both with its default CERT_NONE)."""
    port, workdir = tls_broker
    agent = start_agent(port, "tls-bad-" + uuid.uuid4().hex[:8], 500,
                        ("tls", str(workdir / pki), hostname))
    agent.expect("ERROR", timeout=30)

    def errors():  # and it keeps trying, with backoff
        agent.drain()
        return sum(line.startswith("ERROR") for line in agent.output().splitlines())

    eventually(errors, until=lambda n: n >= 2, timeout=30, what="a second refused attempt")
    assert "CONNECTED" not in agent.output()


# ---- client logic against a scripted broker: a socketpair and a fake clock ---------------------

sys.path.insert(0, str(REPO / "firmware"))
from terminal.mqtt import packets as pk  # noqa: E402
from terminal.mqtt.client import DOWN, UP, MQTTClient  # noqa: E402


class Scripted:
    """The client with a hand-driven clock; each connection is a socketpair whose other end
    the test reads and writes as the broker."""

    def __init__(self, refuse=False, **options):
        self.now, self.ends, self.refuse, self.events = 0, [], refuse, []
        self.client = MQTTClient("c1", "broker", 1883, clock=lambda: self.now,
                                 rand=lambda n: n - 1, socket_factory=self._open, **options)
        self.client.on_connect = lambda: self.events.append("up")
        self.client.on_disconnect = lambda: self.events.append("down")
        self.client.on_message = lambda t, p: self.events.append((t, p))

    def _open(self, host, port):
        if self.refuse:
            raise OSError(111, "refused")
        mine, theirs = socket.socketpair()
        mine.setblocking(False)
        theirs.settimeout(2)
        self.ends.append(theirs)
        return mine

    def read(self):
        """One packet from the client: (first byte, body)."""
        end = self.ends[-1]
        first, length, shift = end.recv(1)[0], 0, 0
        while True:
            byte = end.recv(1)[0]
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        body = b""
        while len(body) < length:
            body += end.recv(length - len(body))
        return first, body

    def send(self, data):
        self.ends[-1].sendall(data)
        self.client.service()

    def connect(self, session_present=False):
        self.client.service()
        first, body = self.read()
        keepalive = self.client.keepalive_ms // 1000
        assert bytes([first, len(body)]) + body == pk.connect("c1", False, keepalive)
        self.send(bytes([0x20, 2, int(session_present), 0]))
        assert self.client.connected


def test_offline_subscribe_and_publish_go_out_after_connack_then_puback_clears():
    s = Scripted()
    s.client.subscribe("cmd/#", 1)
    pid = s.client.publish("evt", b"x", 1)
    assert s.client.state == DOWN and s.client.pending() == [pid]
    s.connect()
    assert s.read() == (0x82, b"\x00\x02\x00\x05cmd/#\x01")   # SUBSCRIBE, fresh session
    assert s.read() == (0x32, b"\x00\x03evt\x00\x01x")          # never sent before: no DUP
    s.send(b"\x40\x02\x00\x01")
    assert s.client.pending() == [] and s.events == ["up"]


def test_unacked_publish_is_retransmitted_with_dup_after_retry_ms():
    s = Scripted(retry_ms=5000)
    s.connect()
    s.client.publish("evt", b"x", 1)
    assert s.read()[0] == 0x32
    s.now = 4999
    s.client.service()
    s.now = 5000
    s.client.service()
    assert s.read() == (0x3A, b"\x00\x03evt\x00\x01x")         # DUP set, same packet id


def test_reconnect_resends_in_flight_with_dup_and_subscribes_again():
    s = Scripted()
    s.client.subscribe("cmd/#", 1)
    s.connect()
    s.read()
    s.send(b"\x90\x03\x00\x01\x01")                              # SUBACK
    pid = s.client.publish("evt", b"x", 1)
    s.read()
    s.ends[-1].close()                                            # the link dies
    s.client.service()
    assert s.client.state == DOWN and s.events == ["up", "down"]
    s.now += 1000                                                 # backoff 1 s (rand at max)
    s.connect(session_present=True)  # kept, but a cluster node may not deliver it: again
    assert s.read()[0] == 0x82
    assert s.read() == (0x3A, b"\x00\x03evt" + pid.to_bytes(2, "big") + b"x")
    s.ends[-1].close()
    s.client.service()
    s.now += 2000
    s.connect(session_present=False)                              # broker lost the session
    assert s.read()[0] == 0x82 and s.read()[0] == 0x3A


def test_keepalive_ping_and_dead_connection_detection():
    s = Scripted(keepalive=10, ping_timeout_ms=3000)
    s.connect()
    s.now = 9999
    s.client.service()
    s.now = 10000
    s.client.service()
    assert s.read() == (0xC0, b"")                                # PINGREQ
    s.send(b"\xd0\x00")                                           # PINGRESP
    s.now = 20000
    s.client.service()
    assert s.read() == (0xC0, b"")
    s.now = 23000                                                 # no PINGRESP in time
    s.client.service()
    assert s.client.state == DOWN and "PINGRESP" in str(s.client.last_error)


def test_backoff_doubles_with_jitter_up_to_the_maximum():
    s = Scripted(refuse=True, backoff_min_ms=1000, backoff_max_ms=8000)
    attempts = []
    for t in range(0, 40000, 100):
        s.now = t
        s.client.service()
        if s.client.last_error is not None and (not attempts or attempts[-1][1] is not
                                                s.client.last_error):
            attempts.append((t, s.client.last_error))
    gaps = [b[0] - a[0] for a, b in zip(attempts, attempts[1:], strict=False)]
    assert gaps[:5] == [1000, 2000, 4000, 8000, 8000]              # rand at max: wait = d
    low = Scripted(refuse=True)
    low.client._rand = lambda n: 0                                # rand at min: wait = d / 2
    low.client.service()
    low.now = 499
    low.client.service()
    first = low.client.last_error
    low.now = 500
    low.client.service()
    assert low.client.last_error is not first


def test_malformed_input_drops_the_connection_and_a_failing_callback_still_acks():
    s = Scripted()
    s.connect()
    s.client.on_message = lambda t, p: 1 / 0
    s.client.on_error = lambda err: s.events.append(type(err).__name__)
    s.send(b"\x32\x07\x00\x01t\x00\x09hi")                          # QoS 1 PUBLISH, id 9
    assert s.read() == (0x40, b"\x00\x09") and "ZeroDivisionError" in s.events
    s.send(b"\x00\x00")                                           # reserved packet type 0
    assert s.client.state == DOWN and isinstance(s.client.last_error, pk.PacketError)
    assert s.client.state != UP
