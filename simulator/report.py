"""The run as people read it: live progress while it runs, a table at the end (rich)."""

import time

from rich.console import Console
from rich.live import Live
from rich.table import Table

from simulator.reconcile import percentile


class Progress:
    """Refreshed a few times a second: sales/s, latency, declines by reason, online terminals."""

    def __init__(self, console: Console | None = None, every_s: float = 0.5):
        self.console = console or Console(stderr=True)
        self.every_s, self.last = every_s, 0.0
        self.live = Live(console=self.console, auto_refresh=False, transient=False)

    def __enter__(self):
        self.live.__enter__()
        return self

    def __exit__(self, *exc):
        self.live.__exit__(*exc)

    def tick(self, engine, now: float) -> None:
        if now - self.last < self.every_s:
            return
        self.last = now
        self.live.update(self._table(engine, now), refresh=True)

    def _table(self, engine, now: float) -> Table:
        sales = [s for seller in engine.sellers for s in seller.sales if s.kind != "void"]
        done = [s for s in sales if s.outcome is not None]
        recent = [s.latency_ms for s in done if s.latency_ms is not None][-500:]
        elapsed = max(now - engine.started, 1e-6)
        declined: dict = {}
        for s in done:
            if s.outcome == "declined":
                declined[s.code] = declined.get(s.code, 0) + 1
        online = sum(1 for t in engine.terminals if getattr(t, "online", False))
        table = Table(title="terminal-sim fleet", show_header=False)
        table.add_row("elapsed", f"{elapsed:.1f} s")
        table.add_row("terminals online", f"{online} / {len(engine.terminals)}")
        table.add_row("sales", f"{len(done)} / {engine.planned}  "
                               f"({len(done) / elapsed:.1f}/s)")
        table.add_row("approved", str(sum(1 for s in done if s.outcome == "approved")))
        table.add_row("declined", ", ".join(f"{k} {v}" for k, v in sorted(declined.items()))
                      or "0")
        table.add_row("errors", str(sum(1 for s in done if s.outcome == "error")))
        table.add_row("latency p50/p95", f"{percentile(recent, 50)} / {percentile(recent, 95)}"
                                         " ms")
        table.add_row("faults", "; ".join(f"{f['kind']} {f['detail']}"
                                          for f in engine.fault_log[-3:]) or "-")
        return table


def render(report: dict, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"terminal-sim: {report.get('terminals')} terminals, "
                        f"{report['attempted']} sales in {report['elapsed_s']} s")
    table.add_column("what")
    table.add_column("value", justify="right")
    lat = report["latency_ms"]
    rows = [("attempted", report["attempted"]), ("approved", report["approved"])]
    rows += [(f"declined: {code}", n) for code, n in report["declined"].items()]
    rows += [("errors", report["errors"])]
    rows += [(f"  error: {code}", n) for code, n in report["errors_by_code"].items()]
    rows += [(f"not sent: {code}", n) for code, n in report["not_sent"].items()]
    rows += [("cancellations (approved / asked)",
              f"{report['voids']['approved']} / {report['voids']['attempted']}"),
             ("latency p50 / p95 / p99", f"{lat['p50']} / {lat['p95']} / {lat['p99']} ms"),
             ("sales/s", report["sales_per_s"]),
             ("ledger operations", report["ledger_operations"]),
             ("LOST", report["lost"]), ("DUPLICATED", report["duplicated"]),
             ("wallet mismatches", report["wallet_mismatches"])]
    for what, value in rows:
        table.add_row(what, str(value))
    console.print(table)
    for fault in report.get("faults", []):
        console.print(f"  fault at {fault['at_s']} s: {fault['kind']} ({fault['detail']})")
    for line in report.get("problems", []):
        console.print(f"  [red]{line}[/red]")


def stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
