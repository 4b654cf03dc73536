"""`fleet`: run the server and do the operator's work from a shell.

Options override the FLEET_* environment (see fleet_server/settings.py).
"""

import argparse
import json
import os
import sys
from datetime import UTC, datetime

from fleet_server.settings import Settings


def _settings(args) -> Settings:
    overrides = {}
    for option, name in (("db", "db_url"), ("broker", "broker_url"), ("port", "http_port"),
                         ("mqtt_port", "embedded_mqtt_port"), ("host", "http_host"),
                         ("ledger_url", "ledger_url")):
        value = getattr(args, option, None)
        if value is not None:
            overrides[name] = value
    return Settings(**overrides)


def cmd_serve(args) -> int:
    from fleet_server.bootstrap import bootstrap, connect_broker
    from fleet_server.entrypoints import http_serve
    from fleet_server.entrypoints.app import create_app
    from fleet_server.entrypoints.ports import check_ports
    from fleet_server.entrypoints.scheduler import start_scheduler

    settings = _settings(args)
    check_ports(settings, embedded_broker=not settings.broker_url)
    fleet = bootstrap(settings)
    connect_broker(fleet)
    if settings.settlement_enabled:
        start_scheduler(fleet)
    print(f"fleet server: http://{settings.http_host}:{settings.http_port}/docs  "
          f"broker {fleet.bus.host}:{fleet.bus.port}  database {fleet.engine.url!r}", flush=True)
    try:
        http_serve.run(create_app(fleet), settings)
    finally:
        fleet.close()
    return 0


def cmd_ledger_serve(args) -> int:
    from fleet_server.bootstrap_ledger import serve_ledger

    serve_ledger(_settings(args), args.host or "127.0.0.1", args.port or 8100,
                 args.token or os.environ.get("FLEET_LEDGER_TOKEN"))
    return 0


def cmd_db_upgrade(args) -> int:
    from fleet_server.adapters.db import make_engine
    from fleet_server.adapters.migrations import upgrade

    engine = make_engine(_settings(args).db_url)
    upgrade(engine)
    print("database at head:", engine.url)
    return 0


def _fleet(args):
    from fleet_server.bootstrap import bootstrap

    return bootstrap(_settings(args))


def cmd_device(args) -> int:
    from fleet_server.domain.devices import DeviceStateError
    from fleet_server.service_layer import registry

    fleet = _fleet(args)
    try:
        return _device_action(fleet, args, datetime.now(UTC))
    except (registry.NotFound, DeviceStateError, LookupError, ValueError) as err:
        code = getattr(err, "code", None)
        print(f"refused{f' ({code})' if code else ''}: {err}", file=sys.stderr)
        return 1


def _device_ids(args) -> list[str]:
    """DEVICE... on the command line, plus --from-file (one id per line, or the JSON list that
    `device register --keys-out` and `provision batch` write)."""
    ids = list(args.rest[1:])
    if args.from_file:
        with open(args.from_file) as f:
            text = f.read()
        if text.lstrip().startswith("["):
            ids += [entry["device_id"] if isinstance(entry, dict) else str(entry)
                    for entry in json.loads(text)]
        else:
            ids += [line.split()[0] for line in text.splitlines()
                    if line.strip() and not line.lstrip().startswith("#")]
    return ids


def _device_action(fleet, args, now) -> int:
    from fleet_server.service_layer import device_lifecycle, registry, rekey

    rest = args.rest
    if args.action == "register":
        out = []
        for _ in range(args.count):
            secrets = registry.register_device(fleet.uow(), fleet.keys, args.model, now)
            out.append(secrets.__dict__)
            print(secrets.device_id, secrets.initial_key_id)
        if args.keys_out:
            fd = os.open(args.keys_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(out, f, indent=1)
            print(f"keys and claim codes written to {args.keys_out} (mode 600)")
    elif args.action == "list":
        with fleet.uow() as uow:
            for d in uow.devices.list(limit=10_000):
                print(f"{d.device_id}  {d.state:<11} {d.partner_id or '-':<12} {d.model:<12} "
                      f"fw={d.firmware_version or '-'} seen={d.last_seen_at or '-'}")
    elif args.action == "rotate-bdk":
        _need(rest, 1, "fleet device rotate-bdk NEW_BDK_ID")
        print("new terminals get their key from BDK",
              rekey.rotate_bdk(fleet.uow(), fleet.keys, rest[0], now))
    elif args.action == "allocate":
        _need(rest, 1, "fleet device allocate PARTNER DEVICE... [--from-file F] [--take N]")
        ids = _device_ids(args)
        if args.take:
            ids += device_lifecycle.unallocated(fleet.uow(), args.take, args.model_filter)
        devices = device_lifecycle.allocate_devices(fleet.uow(), rest[0], ids, now)
        for device in devices:
            print(device.device_id, device.state, device.partner_id)
        print(f"{len(devices)} terminal(s) allocated to {rest[0]}")
    elif args.action == "assign":
        _need(rest, 2, "fleet device assign DEVICE PARTNER")
        device = registry.assign_device(fleet.uow(), rest[0], rest[1])
        print(device.device_id, device.state, device.partner_id)
    elif args.action == "rekey":
        _need(rest, 1, "fleet device rekey DEVICE")
        device, _command = rekey.start_rekey(fleet.uow(), fleet.keys, rest[0], now)
        # This process has no broker connection: the server sends the command at the
        # terminal's next connect (and at once when re-keyed through the API).
        print(device.device_id, "current key", device.initial_key_id, "pending key",
              device.pending_key_id, "(sent at the terminal's next connect)")
    elif args.action == "renew-cert":
        _need(rest, 1, "fleet device renew-cert DEVICE --pki DIR [--out DIR] [--new-key]")
        _renew_certificate(fleet, rest[0], args)
    else:
        _need(rest, 1, f"fleet device {args.action} DEVICE")
        device, clears = device_lifecycle.change_state(fleet.uow(), rest[0], args.action, now,
                                                       fleet.broker_access)
        if clears:  # a retirement: this process has no broker connection to clear them
            print(device.device_id, device.state, "- retained messages to clear:",
                  " ".join(topic for topic, *_ in clears),
                  "(cleared by the server when the terminal connects, or via the API now)")
        else:
            print(device.device_id, device.state)
    return 0


def _renew_certificate(fleet, device_id: str, args) -> None:
    from pathlib import Path

    from fleet_server.adapters.pki import CertificateAuthority, PkiError
    from fleet_server.adapters.secure_files import write_private, write_public
    from fleet_server.service_layer import device_lifecycle

    pki = args.pki or fleet.settings.pki_dir
    if not pki:
        raise ValueError("the fleet CA folder: --pki DIR or FLEET_PKI_DIR")
    try:
        cred = device_lifecycle.renew_certificate(fleet.uow(), device_id,
                                                  CertificateAuthority(pki), new_key=args.new_key)
    except PkiError as err:  # e.g. no certificate was ever issued, or it is revoked
        raise ValueError(str(err)) from err
    out = Path(args.out or ".")
    write_public(out / "cert.der", cred.cert_der)  # DER: what MicroPython's TLS reads
    if cred.key_der:
        write_private(out / "key.der", cred.key_der)
    print(f"new certificate for {device_id} until {cred.not_after:%Y-%m-%d} in {out} "
          "(deliver it with `provision flash`)")


def _need(rest: list, n: int, usage: str) -> None:
    if len(rest) < n:
        raise ValueError(f"usage: {usage}")


def cmd_partner(args) -> int:
    from fleet_server.service_layer import partners

    fleet = _fleet(args)
    # As the API and the console do: the built-in ledger keeps its own record, same id (a
    # remote one, with no administration here, is told on its side).
    try:
        partner = partners.create_partner(fleet.uow, fleet.ledger_admin, partners.NewPartner(
            args.name, not args.deals_only, args.phone, args.email, partner_id=args.partner_id),
            datetime.now(UTC))
    except partners.PartnerRefused as err:
        print(f"refused ({err.code}): {err.message}", file=sys.stderr)
        return 1
    print(partner.partner_id, partner.name)
    return 0


def cmd_settle(args) -> int:
    from fleet_server.entrypoints.scheduler import run_due_settlements

    fleet = _fleet(args)
    for line in run_due_settlements(fleet, day=args.day, force=True):
        print(line)
    return 0


def cmd_seed_demo(args) -> int:
    from fleet_server.demo import seed_demo

    fleet = _fleet(args)
    for line in seed_demo(fleet, args.out):
        print(line)
    return 0


def cmd_demo(args) -> int:
    """The demo runs simulated terminals, so it is the simulator's command (`fleet-demo`): the
    simulator builds on this package, never the other way round. Hand over to it, options and
    all, in this process's place (Ctrl-C and the exit code are the demo's own)."""
    argv = [sys.executable, "-m", "simulator.demo_cli"] + (["-v"] if args.verbose else [])
    for option in ("db", "ledger_url", "port", "host", "mqtt_port"):
        if getattr(args, option, None) is not None:
            argv += ["--" + option.replace("_", "-"), str(getattr(args, option))]
    sys.stdout.flush()
    os.execv(sys.executable, argv)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleet", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p, http=False):
        p.add_argument("--db", help="database URL (default: SQLite in the working directory)")
        p.add_argument("--ledger-url", help="external ledger (default: the reference ledger)")
        if http:
            p.add_argument("--port", type=int, help="HTTP port")
            p.add_argument("--host", help="HTTP address (default 127.0.0.1)")
        return p

    p = common(sub.add_parser("serve", help="run the fleet server"), http=True)
    p.add_argument("--broker", help="mqtt://host:port (default: start the embedded broker)")
    p.add_argument("--mqtt-port", type=int, help="the embedded broker's port (default 1884)")
    p.set_defaults(func=cmd_serve)

    p = common(sub.add_parser("demo", help="embedded broker, SQLite, demo data, terminals"),
               http=True)
    p.add_argument("--mqtt-port", type=int,
                   help="the embedded broker's port (default 1884; make demo MQTT_PORT=N)")
    p.set_defaults(func=cmd_demo, broker=None)

    p = common(sub.add_parser("ledger-serve", help="serve the reference ledger over HTTP"),
               http=True)
    p.add_argument("--token", help="bearer token clients must send")
    p.set_defaults(func=cmd_ledger_serve)

    common(sub.add_parser("db-upgrade", help="migrate the database to the latest schema")
           ).set_defaults(func=cmd_db_upgrade)

    p = common(sub.add_parser(
        "device", help="register, allocate, re-key, retire and change terminals",
        description="register | list | allocate PARTNER DEVICE... | assign DEVICE PARTNER | "
                    "activate|suspend|resume|unassign|retire|rekey|renew-cert DEVICE | "
                    "rotate-bdk ID (docs/device-lifecycle.md)"))
    p.add_argument("action", choices=["register", "allocate", "assign", "activate", "suspend",
                                      "resume", "retire", "unassign", "rekey", "rotate-bdk",
                                      "renew-cert", "list"])
    p.add_argument("rest", nargs="*", metavar="ARG",
                   help="DEVICE, DEVICE PARTNER (assign), PARTNER DEVICE... (allocate)")
    p.add_argument("--model", default="esp32-gm65")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--keys-out", help="write the terminals' keys to this file (mode 600)")
    p.add_argument("--from-file", help="allocate: device ids, one a line, or a keys JSON file")
    p.add_argument("--take", type=int, help="allocate: N provisioned, unallocated terminals")
    p.add_argument("--model-filter", help="allocate --take: only terminals of this model")
    p.add_argument("--pki", help="renew-cert: the fleet CA folder (default FLEET_PKI_DIR)")
    p.add_argument("--out", help="renew-cert: folder for cert.der (and key.der)")
    p.add_argument("--new-key", action="store_true", help="renew-cert: a new key pair too")
    p.set_defaults(func=cmd_device)

    p = common(sub.add_parser("partner", help="add a partner to the directory"))
    p.add_argument("partner_id")
    p.add_argument("name")
    p.add_argument("--deals-only", action="store_true", help="cannot take payments")
    p.add_argument("--phone")
    p.add_argument("--email")
    p.set_defaults(func=cmd_partner)

    p = common(sub.add_parser(
        "settle", help="batch every operation still pending before today, now (Paris days)"))
    p.add_argument("--day", type=lambda s: datetime.strptime(s, "%Y-%m-%d").date(),
                   help="settle this Paris day only (YYYY-MM-DD)")
    p.set_defaults(func=cmd_settle)

    from fleet_server.entrypoints.api.tokens import add_token_parser

    add_token_parser(sub, common)

    from fleet_server.entrypoints.release_cli import add_update_parsers

    add_update_parsers(sub, common, _fleet)  # fleet release ..., fleet campaign ...

    from fleet_server.entrypoints.user_cli import add_user_parser

    add_user_parser(sub, common)

    from fleet_server.entrypoints.broker_config import add_parser as add_broker_config_parser

    add_broker_config_parser(sub)

    from fleet_server.entrypoints.support_cli import add_support_parser

    add_support_parser(sub)

    p = common(sub.add_parser("seed-demo", help="demo programs, partners, codes and QR images"))
    p.add_argument("--out", default="demo-codes", help="folder for the QR code images")
    p.set_defaults(func=cmd_seed_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from fleet_server.entrypoints import logs

    logs.configure(args.verbose)
    try:
        return args.func(args)
    except (ValueError, LookupError) as err:
        print(f"fleet: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
