"""`fleet broker-config`: a Mosquitto configuration for production devices.

    fleet broker-config --pki pki --out broker --name broker.example.org
    mosquitto -c broker/mosquitto.conf

Writes into --out: mosquitto.conf (TLS listener requiring a client certificate from the fleet
CA, its CN as user name, the CRL; a password listener for the server on loopback), acl (each
device reaches only t/<its id>/..., the server all of t/), passwd (the server account, PBKDF2
hash) and server-password (0600, only when the password was generated here). The CA is created
in --pki if missing, and the broker's certificate issued if missing (or with --renew-cert).
Secrets are never printed.
"""

import json
import os
import secrets
import sys
from pathlib import Path

from fleet_server.adapters.broker_security import (
    ACCOUNT_FILE,
    PID_FILE,
    SERVER_USER,
    BrokerSecurity,
    hash_password,
    render_passwd,
)
from fleet_server.adapters.mosquitto import SecureFiles, render_secure_config

PASSWORD_ENV = "FLEET_MQTT_PASSWORD"


def _private_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def generate(out: Path, pki: Path, tls_port: int = 8883, dev_port: int | None = 1883,
             tls_host: str = "127.0.0.1", names=(), server_user: str = SERVER_USER,
             server_password: str | None = None, run_as: str | None = None,
             renew_cert: bool = False) -> list[str]:
    """Write the broker's files; returns lines to show the operator (no secrets)."""
    from fleet_server.adapters.pki import CertificateAuthority

    out, pki = Path(out).resolve(), Path(pki).resolve()
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    report = []
    ca = CertificateAuthority(pki)
    if ca.init():
        report.append(f"created the fleet CA in {pki}")
    if renew_cert or not ca.server_cert_path.exists():
        ca.issue_server(list(names))
        report.append(f"issued the broker certificate ({ca.server_cert_path})")
    if server_password is None and (out / "passwd").exists():
        report.append("kept the existing server account (pass --server-password to change it)")
    else:
        if server_password is None:
            server_password = secrets.token_urlsafe(24)
            _private_text(out / "server-password", server_password + "\n")
            report.append(f"server password generated into {out / 'server-password'} (0600)")
        _private_text(out / "passwd", render_passwd({server_user: hash_password(server_password)}))
    BrokerSecurity(out, ca, server_user=server_user).write_acl()
    account = out / ACCOUNT_FILE
    if dev_port:
        account.write_text(json.dumps({"host": "127.0.0.1", "port": dev_port,
                                       "user": server_user}) + "\n")
    elif account.exists():
        account.unlink()
    files = SecureFiles(ca.ca_bundle_path, ca.server_cert_path, ca.server_key_path, ca.crl_path,
                        out / "acl", out / "passwd")
    data = out / "data"
    data.mkdir(exist_ok=True, mode=0o700)
    text = render_secure_config(files, data, tls_port, dev_port, tls_host)
    text += f"pid_file {out / PID_FILE}\n"  # written with -d; BrokerSecurity signals it
    if run_as:
        text = f"user {run_as}\n" + text
    (out / "mosquitto.conf").write_text(text)
    report += [f"wrote {out / 'mosquitto.conf'}: devices on TLS {tls_host}:{tls_port}"
               + (f", server account '{server_user}' on 127.0.0.1:{dev_port}" if dev_port
                  else ""),
               f"run: mosquitto -c {out / 'mosquitto.conf'}  (SIGHUP reloads the ACL and CRL)"]
    return report


def add_parser(sub) -> None:
    p = sub.add_parser("broker-config", help="Mosquitto configuration: mTLS devices, ACL, "
                       "server account")
    p.add_argument("--pki", help="fleet CA folder, created if missing (default: pki in the "
                                 "data folder, FLEET_DATA_DIR)")
    p.add_argument("--out", help="folder for mosquitto.conf, acl, passwd (default: broker in "
                                 "the data folder)")
    p.add_argument("--tls-port", type=int, default=8883)
    p.add_argument("--tls-host", default="127.0.0.1", help="address of the device listener")
    p.add_argument("--dev-port", type=int, default=1883,
                   help="loopback password listener for the server (0: none)")
    p.add_argument("--name", action="append", default=[],
                   help="extra host name or IP in the broker certificate (repeatable)")
    p.add_argument("--server-user", default=SERVER_USER)
    p.add_argument("--server-password", default=os.environ.get(PASSWORD_ENV),
                   help=f"the server account's password (default: ${PASSWORD_ENV}, else keep "
                   "the existing one or generate one)")
    p.add_argument("--run-as", help="system user Mosquitto drops to (its `user` setting)")
    p.add_argument("--renew-cert", action="store_true", help="issue a new broker certificate")
    p.set_defaults(func=cmd_broker_config)


def cmd_broker_config(args) -> int:
    from fleet_server.adapters.pki import PkiError

    for port in (args.tls_port, args.dev_port):
        if not 0 <= port <= 65535:
            print(f"fleet broker-config: port {port} out of range", file=sys.stderr)
            return 2
    from fleet_server.adapters.data_dir import InsideRepository, secrets_folder

    try:
        out, pki = secrets_folder(args.out, "broker"), secrets_folder(args.pki, "pki")
    except InsideRepository as err:
        print(f"fleet broker-config: {err}", file=sys.stderr)
        return 1
    try:
        lines = generate(out, pki, args.tls_port, args.dev_port or None,
                         args.tls_host, args.name, args.server_user, args.server_password,
                         args.run_as, args.renew_cert)
    except (PkiError, OSError) as err:
        print(f"fleet broker-config: {err}", file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    return 0
