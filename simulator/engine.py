"""Runs many terminals and their sellers in one thread, and strikes the scenario's faults.

One loop turn steps every terminal's firmware once (Runtime.step never blocks: the MQTT client
only does what its socket allows), then lets every seller look at its screen. Faults strike
when a share of the planned sales is done: drop and kill wait for a terminal that has just
sent a sale (between the request and its answer), so the journal and the retransmissions are
what keeps the books right. Broker and server restarts run in a side thread while the
terminals go on (and find the broker or the server gone).
"""

import random
import threading
import time

from simulator.scenario import Fault

IDLE_SLEEP_S = 0.002  # a turn with few terminals yields the GIL to the server's threads


class Engine:
    def __init__(self, terminals, sellers, scenario, stack=None, progress=None,
                 rng: random.Random | None = None):
        self.terminals, self.sellers, self.scenario = terminals, sellers, scenario
        self.stack, self.progress = stack, progress
        self.rng = rng or random.Random(scenario.seed)
        self.planned = sum(len(s.plan) for s in sellers)
        self.faults = sorted(scenario.faults, key=lambda f: f.at)
        self.fault_log: list[dict] = []
        self._armed: dict[object, tuple[str, Fault]] = {}  # terminal -> fault to strike
        self._after_turn: list = []  # callables run once the turn's steps are over
        self._timers: list[tuple[float, object]] = []
        self._side: list[threading.Thread] = []
        self.started = self.finished = 0.0
        self.stopping = False
        for terminal in terminals:
            if hasattr(terminal, "observer"):
                terminal.observer = self

    # ---- observer of in-process terminals -------------------------------------------------------
    def sent(self, terminal, seq):
        armed = self._armed.pop(terminal, None)
        if armed is None:
            return
        kind, fault = armed
        if kind == "drop":
            terminal.drop_connection()
            self._log(fault, f"{terminal.name} seq {seq}")
        else:
            self._after_turn.append(lambda: self._kill(terminal, fault, seq))

    def result(self, terminal, seq, message, screen):
        pass  # sellers read the screen, as a person does

    # ---- the loop ----------------------------------------------------------------------------
    def run(self) -> float:
        self.started = now = time.monotonic()
        deadline = now + self.scenario.max_s
        while now < deadline and not self.stopping:
            turn = time.monotonic()
            for terminal in self.terminals:
                terminal.step()
            while self._after_turn:
                self._after_turn.pop(0)()
            now = time.monotonic()
            for seller in self.sellers:
                seller.poll(now)
            self._due(now)
            self._strike(now)
            if self.progress is not None:
                self.progress.tick(self, now)
            if all(s.done for s in self.sellers) and not self._timers and not self._busy():
                break
            if time.monotonic() - turn < IDLE_SLEEP_S:
                time.sleep(IDLE_SLEEP_S)
        for seller in self.sellers:
            seller.give_up()
        for thread in self._side:
            thread.join(60)
        self.finished = time.monotonic()
        return self.finished - self.started

    def stop(self) -> None:
        """Ask run() to return after the current turn (from another thread)."""
        self.stopping = True

    def _busy(self) -> bool:
        return any(t.is_alive() for t in self._side) or any(
            getattr(t, "powered", True) is False for t in self.terminals)

    def done_sales(self) -> int:
        return sum(1 for s in self.sellers for sale in s.sales
                   if sale.outcome is not None and sale.kind != "void")

    # ---- faults ------------------------------------------------------------------------------
    def _strike(self, now: float) -> None:
        share = self.done_sales() / self.planned if self.planned else 1.0
        while self.faults and self.faults[0].at <= share:
            fault = self.faults.pop(0)
            if fault.kind in ("drop", "kill"):
                for terminal in self._pick(fault.count):
                    self._armed[terminal] = (fault.kind, fault)
            elif fault.kind == "skew":
                for terminal in self._pick(fault.count):
                    terminal.skew_s = fault.skew_s
                    self._at(now + fault.for_s, lambda t=terminal: setattr(t, "skew_s", 0))
                self._log(fault, f"{fault.count} terminals {fault.skew_s:+d} s")
            elif fault.kind in ("broker_restart", "server_restart"):
                self._restart(fault)

    def _pick(self, count: int) -> list:
        """In-process terminals that still have sales to make (so an armed fault strikes)."""
        live = [s.t for s in self.sellers
                if s.plan and hasattr(s.t, "drop_connection") and s.t not in self._armed]
        return self.rng.sample(live, min(count, len(live)))

    def _kill(self, terminal, fault: Fault, seq: int) -> None:
        terminal.power_cut()
        self._log(fault, f"{terminal.name} seq {seq}, off {fault.down_s} s")
        self._at(time.monotonic() + fault.down_s, terminal.boot)

    def _restart(self, fault: Fault) -> None:
        stack = self.stack
        what = fault.kind.split("_")[0]  # broker | server
        if stack is None or not getattr(stack, "can_restart_" + what, False):
            self._log(fault, "skipped: not ours to restart")
            return
        action = stack.restart_broker if fault.kind == "broker_restart" else stack.restart_server
        thread = threading.Thread(target=action, args=(fault.down_s,), daemon=True,
                                  name=fault.kind)
        thread.start()
        self._side.append(thread)
        self._log(fault, f"down {fault.down_s} s")

    def _at(self, when: float, action) -> None:
        self._timers.append((when, action))

    def _due(self, now: float) -> None:
        due = [t for t in self._timers if t[0] <= now]
        if due:
            self._timers = [t for t in self._timers if t[0] > now]
            for _, action in due:
                action()

    def _log(self, fault: Fault, detail: str) -> None:
        self.fault_log.append({"kind": fault.kind, "at_s": round(time.monotonic() - self.started,
                                                                  2), "detail": detail})
