"""The project's Mosquitto with the configuration `fleet broker-config` generates (TLS listener
with client certificates, ACL, server account on a password listener), on free ports, and paho
clients that connect to it as a device (its certificate) or as the server (its password).

Imported as a plain module by the provisioning integration tests and tests/e2e."""

import os
import queue
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from fleet_server.adapters.broker_security import SERVER_USER, BrokerSecurity, takeover
from fleet_server.adapters.mosquitto import MosquittoProcess, free_port
from fleet_server.adapters.pki import CertificateAuthority
from fleet_server.entrypoints.broker_config import generate
from protocol import tokens

SERVER_PASSWORD = "server-password-for-tests-0123"


def new_device_id() -> str:
    return tokens.make_device_id(tokens.random_payload32(8, os.urandom))


class SecureBroker:
    def __init__(self, binary: str, workdir: Path):
        self.workdir = Path(workdir)
        self.ca = CertificateAuthority(self.workdir / "pki")
        self.config_dir = self.workdir / "broker"
        self.tls_port, self.dev_port = free_port(), free_port()
        generate(self.config_dir, self.ca.dir, self.tls_port, self.dev_port,
                 server_password=SERVER_PASSWORD)
        conf = (self.config_dir / "mosquitto.conf").read_text()
        self.process = MosquittoProcess(binary, self.workdir, port=self.tls_port,
                                        render=lambda _data: conf)
        self.security = BrokerSecurity(
            self.config_dir, self.ca, broker_pid=lambda: self.process.pid,
            disconnect=takeover("127.0.0.1", self.dev_port, SERVER_USER, SERVER_PASSWORD))
        self.host = "127.0.0.1"

    @property
    def dev_url(self) -> str:
        return f"mqtt://{self.host}:{self.dev_port}"

    def start(self) -> "SecureBroker":
        self.process.start()
        return self

    def stop(self) -> None:
        self.process.stop()

    def log(self) -> str:
        return (self.workdir / "mosquitto.log").read_text(errors="replace")


def pem_files(folder: Path, name: str, cert_der: bytes, key_der: bytes) -> tuple[Path, Path]:
    """paho (OpenSSL) reads files: the device's DER credentials as PEM, key 0600."""
    cert = folder / f"{name}.crt.pem"
    key = folder / f"{name}.key.pem"
    cert.write_bytes(x509.load_der_x509_certificate(cert_der).public_bytes(
        serialization.Encoding.PEM))
    key.touch(mode=0o600)
    key.write_bytes(serialization.load_der_private_key(key_der, None).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return cert, key


class Client:
    """A paho client that records what it receives, its CONNACK and its SUBACKs."""

    def __init__(self, client_id: str):
        self.messages: queue.Queue = queue.Queue()
        self.connack = None
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv311)
        self.client.on_message = lambda c, u, m: self.messages.put((m.topic, m.payload))
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        # a refused handshake ends in one of these, without any CONNACK: stop waiting then
        self.client.on_disconnect = lambda *a: self.connected.set()
        self.client.on_connect_fail = lambda *a: self.connected.set()

    def _on_connect(self, _c, _u, _f, reason_code, _p):
        self.connack = reason_code
        self.connected.set()

    def connect(self, host: str, port: int, timeout: float = 10) -> "Client":
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        self.connected.wait(timeout)
        return self

    @property
    def ok(self) -> bool:
        return self.connack is not None and not self.connack.is_failure

    def subscribe(self, *filters: str) -> None:
        self.subscribed.clear()
        self.client.subscribe([(f, 1) for f in filters])
        self.subscribed.wait(10)

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def received(self, wait: float = 0.5) -> list:
        out = []
        try:
            while True:
                out.append(self.messages.get(timeout=wait))
                wait = 0.05
        except queue.Empty:
            return out

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def device_client(broker: SecureBroker, device_id: str, cert_der: bytes, key_der: bytes,
                  folder: Path, client_id: str | None = None) -> Client:
    cert, key = pem_files(folder, device_id, cert_der, key_der)
    client = Client(client_id or device_id)
    client.client.tls_set(ca_certs=str(broker.ca.root_cert_path), certfile=str(cert),
                          keyfile=str(key))
    client.client.reconnect_delay_set(30, 30)  # a refused client must not spin
    return client.connect(broker.host, broker.tls_port)


def server_client(broker: SecureBroker, password: str = SERVER_PASSWORD,
                  user: str = SERVER_USER) -> Client:
    client = Client(f"test-server-{id(object())}")
    client.client.username_pw_set(user, password)
    client.client.reconnect_delay_set(30, 30)
    return client.connect(broker.host, broker.dev_port)
