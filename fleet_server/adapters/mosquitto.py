"""Mosquitto run with the project's own configuration (TCP_NODELAY, persistence, listeners)
rather than the distribution's: the config renderer and a process wrapper for tests and benches."""

import os
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def _common(data_dir: Path) -> list[str]:
    return [
        "set_tcp_nodelay true",
        "persistence true",
        f"persistence_location {data_dir}/",
        "autosave_interval 1",
        "max_inflight_messages 100",
        "max_queued_messages 10000",
        "log_type error",
        "log_type warning",
        "log_dest stderr",
    ]


def render_dev_config(port: int, data_dir: Path, host: str = "127.0.0.1") -> str:
    """A plain-TCP listener on loopback for development and tests.

    set_tcp_nodelay: without it a QoS 1 round trip costs ~44 ms (Nagle + delayed ACK) instead of
    well under a millisecond. Persistence keeps QoS 1 messages and sessions across a restart.
    """
    return "\n".join(["per_listener_settings false", "allow_anonymous true", *_common(data_dir),
                      f"listener {port} {host}", ""])


@dataclass(frozen=True)
class SecureFiles:
    """What the TLS listener and the access control read (absolute paths)."""

    cafile: Path  # root + issuing CA (PEM): verifies device certificates
    certfile: Path  # the broker's certificate followed by the issuing CA
    keyfile: Path
    crlfile: Path
    acl_file: Path
    password_file: Path


def render_secure_config(files: SecureFiles, data_dir: Path, tls_port: int,
                         dev_port: int | None = None, tls_host: str = "127.0.0.1",
                         dev_host: str = "127.0.0.1") -> str:
    """Production shape: devices on a TLS listener that requires a client certificate from the
    fleet CA (its CN, the device id, becomes the user name the ACL patterns use, and the client
    id: a device cannot connect under another device's client id, or the server's, and throw
    it off or wipe its session; the CRL refuses revoked ones); the server logs in with a
    password on the dev listener (plain TCP, loopback only unless told otherwise). Nobody is
    anonymous. Settings are per listener so that the client-id binding holds on the device
    listener only: the server account needs to take over a revoked device's client id to end
    its session (broker_security.takeover), and a device id never names a server client."""
    lines = ["per_listener_settings true", *_common(data_dir)]
    if dev_port is not None:
        lines += ["", "# password accounts (the fleet server)",
                  f"listener {dev_port} {dev_host}", "allow_anonymous false",
                  f"password_file {files.password_file}", f"acl_file {files.acl_file}"]
    lines += ["", "# devices: mutual TLS, the certificate identity is user name and client id",
              f"listener {tls_port} {tls_host}", "allow_anonymous false",
              f"acl_file {files.acl_file}",
              f"cafile {files.cafile}", f"certfile {files.certfile}",
              f"keyfile {files.keyfile}", f"crlfile {files.crlfile}",
              "require_certificate true", "use_identity_as_username true",
              "use_username_as_clientid true", "tls_version tlsv1.2", ""]
    return "\n".join(lines)


def find_mosquitto() -> str | None:
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)


# Below Linux's ephemeral range (32768-60999 by default): a port the kernel picked for us
# (bind to port 0) was sometimes handed out again, as the local end of an outgoing
# connection, before the server meant for it had bound it ("address already in use" for a
# NATS node's route port in a CI run). No outgoing connection takes a port from here.
_PORTS = (20000, 32767)
_GIVEN: set[int] = set()


def free_port() -> int:
    """A loopback port free now, for a server started a moment later; never the same twice in
    one process."""
    for _ in range(500):
        port = random.randint(*_PORTS)
        if port in _GIVEN:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port
    with socket.socket() as sock:  # that range full: let the kernel choose
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MosquittoProcess:
    """One Mosquitto with the project's configuration on a free loopback port (tests, benches)."""

    def __init__(self, binary: str, workdir: Path, port: int | None = None,
                 render: Callable[[Path], str] | None = None):
        """render(data_dir) -> config text (default: the dev config on `port`); `port` is the
        listener start() waits for."""
        self.binary, self.workdir = binary, Path(workdir)
        self.host, self.port = "127.0.0.1", port or free_port()
        self.render = render or (lambda data: render_dev_config(self.port, data))
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "mosquitto.conf"
        text = self.render(data)
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            # Started as root (CI), Mosquitto drops to the "mosquitto" user, which cannot write
            # persistence into a root-owned 0700 temporary folder: sessions and queued QoS 1
            # messages would then not survive a broker restart. A test broker stays root.
            text = "user root\n" + text
        conf.write_text(text)
        log = open(self.workdir / "mosquitto.log", "ab")
        self.proc = subprocess.Popen([self.binary, "-c", str(conf)], stdout=log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited; see {self.workdir / 'mosquitto.log'}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"mosquitto not listening on {self.port} after {timeout}s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()
