"""`fleet-demo` (what `make demo` and `fleet demo` run): embedded broker, SQLite, demo data, the
server, and three simulated terminals running the real firmware that sell the demo codes
gently; one more terminal is provisioned for `terminal-sim run`, the interactive one.

It lives in the simulator because it runs simulated terminals: the simulator builds on the
fleet server, never the other way round (docs/architecture.md).
"""

import argparse
import json
import sys
from pathlib import Path

from fleet_server.bootstrap import bootstrap, connect_broker
from fleet_server.demo import PARTNERS, seed_demo
from fleet_server.demo_terminal_codes import FILE as TERMINAL_CODES
from fleet_server.entrypoints import http_serve, logs
from fleet_server.entrypoints.app import create_app
from fleet_server.entrypoints.ports import check_ports
from fleet_server.entrypoints.scheduler import start_scheduler
from fleet_server.entrypoints.web.demo_accounts import seed_demo_accounts
from fleet_server.settings import Settings
from protocol import errors, text
from simulator.demo import INTERACTIVE, DemoTerminals, provision_demo_flash

DEMO_DIR = Path("demo-codes")


DEMO_SUPPORT = {"support_phone": "01 99 00 12 34",
                "support_email": "assistance@programme.demo.example",
                "support_hours": "du lundi au samedi, de 9 h à 19 h"}


def run_demo(settings) -> int:
    check_ports(settings, embedded_broker=True, make_target="demo")
    # The demo partners' support line, unless FLEET_SUPPORT_* give one (01 99 00: a range
    # kept for fiction).
    settings = settings.model_copy(update={k: v for k, v in DEMO_SUPPORT.items()
                                           if getattr(settings, k) is None})
    fleet = bootstrap(settings)
    for line in seed_demo(fleet, DEMO_DIR):
        print(line)
    for line in seed_demo_accounts(fleet):
        print(line)
    connect_broker(fleet)
    start_scheduler(fleet)
    flash = provision_demo_flash(fleet, DEMO_DIR, fleet.bus.host, fleet.bus.port)
    terminals = json.loads((DEMO_DIR / "terminals.json").read_text())
    categories = {t["device_id"]: next(p[3] for p in PARTNERS if p[0] == t["partner_id"])
                  for t in terminals}
    # The terminals sell their own codes: the listed ones stay for hand tests.
    codes = json.loads((DEMO_DIR / TERMINAL_CODES).read_text(encoding="utf-8"))
    demo = DemoTerminals([flash[t["device_id"]] for t in terminals], codes, categories,
                         on_sale=_print_sale).start()
    base = f"http://{settings.http_host}:{settings.http_port}"
    print(f"\nDemo running. API docs: {base}/docs   health: {base}/health"
          f"   console: {base}/login")
    print(f"MQTT broker: {fleet.bus.host}:{fleet.bus.port}   database: {settings.db_url}")
    print(f"{len(terminals)} simulated terminals (the real firmware) are selling.")
    print(f"Demo codes to scan: {DEMO_DIR.resolve()}/codes.md")
    print("Your own terminal, in another shell:  .venv/bin/terminal-sim run"
          f"   (flash: {flash[INTERACTIVE]}; add --web 8090 for a web page,"
          " --runtime micropython for the MicroPython binary)")
    print("Stop with Ctrl-C.\n", flush=True)
    try:
        http_serve.run(create_app(fleet), settings)
    finally:
        demo.stop()
        fleet.close()
    return 0


def _print_sale(sale) -> None:
    # a coupon refused as it was scanned was never given an amount
    shown = "" if sale.refused_at_scan else " " + text.format_cents(sale.amount_cents)
    what = "cancel" if sale.kind == "void" else "sale"
    if sale.outcome == "approved":
        outcome = f"approved, auth {sale.auth}"
    elif sale.outcome in ("declined", "error"):
        outcome = errors.text_fr(sale.code) if sale.code in errors.CODES else sale.code
    else:
        outcome = f"{sale.outcome} ({sale.code})"
    print(f"[{sale.device_id}] {what} {sale.token}{shown}: {outcome}", flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleet-demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--db", help="database URL (default: SQLite in the working directory)")
    parser.add_argument("--ledger-url", help="external ledger (default: the reference ledger)")
    parser.add_argument("--port", type=int, help="HTTP port")
    parser.add_argument("--host", help="HTTP address (default 127.0.0.1)")
    parser.add_argument("--mqtt-port", type=int,
                        help="the embedded broker's port (default 1884; make demo MQTT_PORT=N)")
    return parser


def settings_from(args) -> Settings:
    overrides = {name: value for name, value in (
        ("db_url", args.db), ("ledger_url", args.ledger_url), ("http_port", args.port),
        ("http_host", args.host), ("embedded_mqtt_port", args.mqtt_port)) if value is not None}
    return Settings(**overrides)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(args.verbose)
    try:
        return run_demo(settings_from(args))
    except (ValueError, LookupError) as err:  # a busy port, a bad setting: one line
        print(f"fleet-demo: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
