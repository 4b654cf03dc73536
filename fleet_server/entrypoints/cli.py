"""`fleet`: run the server and do the operator's work from a shell.

Options override the FLEET_* environment (see fleet_server/settings.py).
"""

import argparse
import json
import logging
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
    import uvicorn

    from fleet_server.bootstrap import bootstrap, connect_broker
    from fleet_server.entrypoints.app import create_app
    from fleet_server.entrypoints.scheduler import start_scheduler

    settings = _settings(args)
    fleet = bootstrap(settings)
    connect_broker(fleet)
    if settings.settlement_enabled:
        start_scheduler(fleet)
    print(f"fleet server: http://{settings.http_host}:{settings.http_port}/docs  "
          f"broker {fleet.bus.host}:{fleet.bus.port}  database {fleet.engine.url!r}", flush=True)
    try:
        uvicorn.run(create_app(fleet), host=settings.http_host, port=settings.http_port,
                    log_level="warning")
    finally:
        fleet.close()
    return 0


def cmd_ledger_serve(args) -> int:
    from fleet_server.ledger.http_app import serve_reference_ledger

    settings = _settings(args)
    serve_reference_ledger(settings.db_url, args.host or "127.0.0.1", args.port or 8100,
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
    from fleet_server.service_layer import registry

    fleet = _fleet(args)
    now = datetime.now(UTC)
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
            print(f"keys written to {args.keys_out} (mode 600)")
    elif args.action == "assign":
        device = registry.assign_device(fleet.uow(), args.device, args.partner)
        print(device.device_id, device.state, device.partner_id)
    elif args.action == "list":
        with fleet.uow() as uow:
            for d in uow.devices.list(limit=10_000):
                print(f"{d.device_id}  {d.state:<11} {d.partner_id or '-':<12} {d.model:<12} "
                      f"fw={d.firmware_version or '-'} seen={d.last_seen_at or '-'}")
    else:
        device = registry.change_state(fleet.uow(), args.device, args.action)
        print(device.device_id, device.state)
    return 0


def cmd_partner(args) -> int:
    from fleet_server.domain.partners import Partner
    from fleet_server.service_layer import registry

    fleet = _fleet(args)
    partner = registry.add_partner(fleet.uow(), Partner(
        args.partner_id, args.name, can_take_payments=not args.deals_only, phone=args.phone,
        email=args.email, created_at=datetime.now(UTC)))
    print(partner.partner_id, partner.name)
    return 0


def cmd_settle(args) -> int:
    from fleet_server.entrypoints.scheduler import run_due_settlements

    fleet = _fleet(args)
    for line in run_due_settlements(fleet, day=args.day):
        print(line)
    return 0


def cmd_seed_demo(args) -> int:
    from fleet_server.demo import seed_demo

    fleet = _fleet(args)
    for line in seed_demo(fleet, args.out):
        print(line)
    return 0


def cmd_demo(args) -> int:
    from fleet_server.entrypoints.demo import run_demo

    return run_demo(_settings(args))


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
    p.add_argument("--mqtt-port", type=int)
    p.set_defaults(func=cmd_demo, broker=None)

    p = common(sub.add_parser("ledger-serve", help="serve the reference ledger over HTTP"),
               http=True)
    p.add_argument("--token", help="bearer token clients must send")
    p.set_defaults(func=cmd_ledger_serve)

    common(sub.add_parser("db-upgrade", help="migrate the database to the latest schema")
           ).set_defaults(func=cmd_db_upgrade)

    p = common(sub.add_parser("device", help="register, assign and change terminals"))
    p.add_argument("action", choices=["register", "assign", "activate", "suspend", "resume",
                                      "retire", "unassign", "list"])
    p.add_argument("device", nargs="?")
    p.add_argument("partner", nargs="?")
    p.add_argument("--model", default="esp32-gm65")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--keys-out", help="write the terminals' keys to this file (mode 600)")
    p.set_defaults(func=cmd_device)

    p = common(sub.add_parser("partner", help="add a partner to the directory"))
    p.add_argument("partner_id")
    p.add_argument("name")
    p.add_argument("--deals-only", action="store_true", help="cannot take payments")
    p.add_argument("--phone")
    p.add_argument("--email")
    p.set_defaults(func=cmd_partner)

    p = common(sub.add_parser("settle", help="run the settlement now (catch-up included)"))
    p.add_argument("--day", type=lambda s: datetime.strptime(s, "%Y-%m-%d").date(),
                   help="settle this Paris day only (YYYY-MM-DD)")
    p.set_defaults(func=cmd_settle)

    from fleet_server.entrypoints.api.tokens import add_token_parser

    add_token_parser(sub, common)

    p = common(sub.add_parser("seed-demo", help="demo programs, partners, codes and QR images"))
    p.add_argument("--out", default="demo-codes", help="folder for the QR code images")
    p.set_defaults(func=cmd_seed_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("amqtt").setLevel(logging.WARNING)
    try:
        return args.func(args)
    except (ValueError, LookupError) as err:
        print(f"fleet: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
