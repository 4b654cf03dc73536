"""`provision`: device identities, label sheets and flashing.

    provision pki init|server|revoke|renew|crl|verify|sign-csr   the fleet CA (--pki DIR)
    provision batch --model MODEL --count N [--out DIR]           register + keys + certs + labels
    provision flash DEVICE --port PORT | --dir DIR                firmware + config + identity

The database and master secret are the fleet server's (FLEET_* environment, --db), as for
`fleet`. Secrets are written 0600 and never printed.
"""

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from fleet_server.adapters.data_dir import data_dir, secrets_folder
from fleet_server.adapters.pki import CertificateAuthority, PkiError
from provisioning.batch import BatchError
from provisioning.flash import FlashError


def _ca(args) -> CertificateAuthority:
    return CertificateAuthority(secrets_folder(args.pki, "pki"))


def cmd_pki(args) -> int:
    ca = _ca(args)
    if args.action == "init":
        print(("created the fleet CA in " if ca.init() else "the fleet CA already exists in ")
              + str(ca.dir))
    elif args.action == "server":
        cert, _ = ca.issue_server(args.name)
        print(f"broker certificate {cert} (key beside it, 0600)")
    elif args.action == "revoke":
        changed = ca.revoke(_one(args.target, "DEVICE"))
        print(("revoked; " if changed else "already revoked; ") + f"CRL {ca.crl_path}")
    elif args.action == "renew":
        cred = ca.renew(_one(args.target, "DEVICE"), new_key=args.new_key)
        out = secrets_folder(args.out or ".", "renewed")
        from fleet_server.adapters.secure_files import write_private, write_public

        write_public(out / "cert.der", cred.cert_der)
        if cred.key_der:
            write_private(out / "key.der", cred.key_der)
        print(f"new certificate for {cred.device_id} until {cred.not_after:%Y-%m-%d} in {out}")
    elif args.action == "crl":
        print(f"CRL refreshed: {ca.refresh_crl()}")
    elif args.action == "verify":
        path = Path(_one(args.target, "CERT"))
        print(f"valid certificate of {ca.verify_device_certificate(path.read_bytes())}")
    elif args.action == "sign-csr":
        device_id = _one(args.target, "DEVICE")
        csr = Path(args.csr or "").read_bytes() if args.csr else b""
        cred = ca.sign_csr(device_id, csr)
        out = Path(args.out or f"{device_id}.der")
        out.write_bytes(cred.cert_der)
        print(f"certificate for {device_id} written to {out}")
    return 0


def _one(value, what):
    if not value:
        raise PkiError(f"give the {what}")
    return value


def _fleet(args):
    from fleet_server.bootstrap import bootstrap
    from fleet_server.settings import Settings

    return bootstrap(Settings(**({"db_url": args.db} if args.db else {})))


def cmd_batch(args) -> int:
    from provisioning.batch import check_request, run_batch

    check_request(args.model, args.count)  # before touching the database
    out = secrets_folder(args.out, "batches") if args.out else secrets_folder(
        None, f"batches/{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{args.model}")
    ca = _ca(args)
    if not ca.initialized:
        print(f"no fleet CA in {ca.dir}: creating one", file=sys.stderr)
    step = max(1, args.count // 20)

    def progress(n, total, device_id):
        if n == total or n % step == 0 or total <= 20:
            print(f"  {n:>5}/{total} {device_id}", file=sys.stderr, flush=True)

    fleet = _fleet(args)
    try:
        result = run_batch(fleet, ca, args.model, args.count, out,
                           formats=tuple(args.labels.split(",")), progress=progress)
    finally:
        fleet.close()
    print(f"{len(result.device_ids)} terminals registered; files in {result.out_dir}")
    for sheet in result.sheets:
        print(f"labels: {sheet}")
    return 0


def _site(args) -> dict:
    site = {}
    if args.site:
        try:
            site = json.loads(Path(args.site).read_text())
        except (OSError, ValueError) as err:
            raise FlashError(f"site file {args.site}: {err}") from None
        if not isinstance(site, dict):
            raise FlashError(f"site file {args.site} must hold a JSON object")
    wifi = dict(site.get("wifi") or {})
    broker = dict(site.get("broker") or {})
    for key, value in (("ssid", args.wifi_ssid), ("password", args.wifi_password)):
        if value is not None:
            wifi[key] = value
    for key, value in (("host", args.broker_host), ("port", args.broker_port),
                       ("hostname", args.broker_hostname)):
        if value is not None:
            broker[key] = value
    broker.setdefault("host", "127.0.0.1")
    broker.setdefault("port", 8883)
    broker.setdefault("hostname", "localhost")
    if not isinstance(broker["port"], int) or not 0 < broker["port"] < 65536:
        raise FlashError(f"broker port {broker['port']!r} out of range")
    config = {"broker": broker}
    if wifi.get("ssid"):
        config["ssid"], config["password"] = wifi["ssid"], wifi.get("password", "")
    if args.board:
        config["board"] = args.board
    return config


def cmd_flash(args) -> int:
    from provisioning.batch import find_device_dir, load_device
    from provisioning.flash import DirectoryTarget, device_files, write_files

    if bool(args.port) == bool(args.dir):
        raise FlashError("give either --port PORT (a board) or --dir DIR (a directory)")
    source = Path(args.source) if args.source else data_dir() / "batches"
    secrets, tls = load_device(find_device_dir(args.device, source))
    config = _site(args)
    files = _with_firmware(args, lambda fw: device_files(secrets, config, tls, fw))
    dest = args.dir or args.port
    if args.dir or Path(dest).is_dir():
        target = DirectoryTarget(dest)
    else:
        from provisioning.board import BoardTarget

        target = BoardTarget(dest, root=args.root, soft_reset=not args.no_soft_reset,
                             timeout=args.timeout)

    def progress(path, n, total):
        print(f"  {n:>3}/{total} {path}", file=sys.stderr, flush=True)

    with target:
        report = write_files(target, files, progress=progress)
    print(f"{args.device}: {len(report.written)} files written, {len(report.unchanged)} "
          f"already identical; all {report.total} verified by SHA-256 on {target.name}")
    return 0


def _with_firmware(args, make):
    if args.no_firmware:
        return make(None)
    if args.firmware:
        return make(Path(args.firmware))
    import tempfile

    from provisioning.firmware_build import BuildError, build

    with tempfile.TemporaryDirectory(prefix="firmware-") as tmp:
        try:
            build(tmp, march=args.march)
        except BuildError as err:
            raise FlashError(f"firmware build failed: {err}") from None
        return make(Path(tmp))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="provision", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("pki", help="the fleet CA: init, server, revoke, renew, crl, verify")
    p.add_argument("action", choices=["init", "server", "revoke", "renew", "crl", "verify",
                                      "sign-csr"])
    p.add_argument("target", nargs="?", help="DEVICE id (revoke, renew, sign-csr) or CERT file")
    p.add_argument("--pki", help="CA folder (default: pki in the data folder, FLEET_DATA_DIR)")
    p.add_argument("--name", action="append", default=[], help="server: extra host name/IP")
    p.add_argument("--out", help="renew: folder; sign-csr: certificate file")
    p.add_argument("--csr", help="sign-csr: the request (PEM or DER)")
    p.add_argument("--new-key", action="store_true", help="renew: with a new key pair")
    p.set_defaults(func=cmd_pki)

    p = sub.add_parser("batch", help="register N terminals with keys, certificates, labels")
    p.add_argument("--model", required=True, help="hardware model, e.g. esp32-gm65")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--out", help="batch folder (default: batches/<time>-<model> in the data "
                                 "folder, FLEET_DATA_DIR)")
    p.add_argument("--pki", help="CA folder (default: pki in the data folder)")
    p.add_argument("--db", help="database URL (default: FLEET_DB_URL, as `fleet`)")
    p.add_argument("--labels", default="pdf,png", help="label formats: pdf, png or pdf,png")
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("flash", help="write firmware, configuration and identity to a board")
    p.add_argument("device")
    p.add_argument("--port", help="serial port of the board (a directory also works)")
    p.add_argument("--dir", help="write into this directory instead of a board")
    p.add_argument("--from", dest="source",
                   help="batch folder (or a folder of batches) holding the device's files "
                        "(default: batches in the data folder)")
    p.add_argument("--firmware", help="a built file set (default: build one now)")
    p.add_argument("--no-firmware", action="store_true", help="identity and config only")
    p.add_argument("--march", help="mpy-cross -march when building (xtensawin for ESP32)")
    p.add_argument("--site", help="JSON file: {\"wifi\": {ssid, password}, \"broker\": "
                   "{host, port, hostname}}")
    p.add_argument("--wifi-ssid")
    p.add_argument("--wifi-password")
    p.add_argument("--broker-host")
    p.add_argument("--broker-port", type=int)
    p.add_argument("--broker-hostname", help="name checked in the broker certificate")
    p.add_argument("--board", help="board module (esp32_gm65, esp32s3_gm805, unix_sim)")
    p.add_argument("--root", default="/", help="flash root folder on the board")
    p.add_argument("--no-soft-reset", action="store_true",
                   help="do not soft-reset the board first (the unix port exits on one)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the REPL")
    p.set_defaults(func=cmd_flash)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (PkiError, BatchError, FlashError) as err:
        print(f"provision {args.command}: {err}", file=sys.stderr)
        return 1
    except (ValueError, LookupError) as err:  # the registry's refusals
        print(f"provision {args.command}: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"provision {args.command}: {err.strerror or err}: {err.filename or ''}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        hint = ("the manifest lists the complete devices" if args.command == "batch"
                else "run the same command again to finish")
        print(f"provision {args.command}: interrupted; {hint}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
