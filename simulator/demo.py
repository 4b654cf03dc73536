"""The demo's terminals: the real firmware, selling the demo codes gently.

`fleet-demo` (simulator/demo_cli.py) calls provision_demo_flash() for its three
terminals and one more for `terminal-sim run`, then DemoTerminals(...).start(). Flash directories
live in <demo dir>/flash/<name>/ and are kept between runs: the DUKPT counter on "flash" moves
on, as on a board, so a counter is never used twice.
"""

import json
import random
import shutil
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from simulator.engine import Engine
from simulator.identities import SIM_MODEL, write_flash
from simulator.scenario import GENTLE, from_dict
from simulator.seller import Seller
from simulator.terminal import SimTerminal
from simulator.world import PlannedSale

INTERACTIVE = "counter"  # the flash directory `terminal-sim run` uses by default
INTERACTIVE_PARTNER = "PA-LIBRAIRIE"


class _Secrets:
    def __init__(self, info: dict):
        for name in ("device_id", "initial_key_id", "initial_key_hex", "command_key_hex"):
            setattr(self, name, info[name])


def provision_demo_flash(fleet, demo_dir: Path, broker_host: str, broker_port: int) -> dict:
    """{name: flash dir} for the demo's terminals (terminals.json) and the interactive one."""
    demo_dir = Path(demo_dir)
    out = {}
    terminals = json.loads((demo_dir / "terminals.json").read_text())
    for info in terminals:
        root = demo_dir / "flash" / info["device_id"]
        if not (root / "device.json").exists():
            write_flash(root, _Secrets(info), broker_host, broker_port)
            wire_state = demo_dir / f"{info['device_id']}.dukpt.json"
            if wire_state.exists():  # an older demo's terminal sold with this key: go on
                shutil.copy(wire_state, root / "dukpt.json")
        _set_broker(root, broker_host, broker_port)
        out[info["device_id"]] = root
    root = demo_dir / "flash" / INTERACTIVE
    if not (root / "device.json").exists():
        from fleet_server.service_layer import registry

        now = datetime.now(UTC)
        secrets = registry.register_device(fleet.uow(), fleet.keys, SIM_MODEL, now)
        registry.assign_device(fleet.uow(), secrets.device_id, INTERACTIVE_PARTNER)
        registry.change_state(fleet.uow(), secrets.device_id, "activate")
        write_flash(root, secrets, broker_host, broker_port)
    _set_broker(root, broker_host, broker_port)
    out[INTERACTIVE] = root
    return out


def _set_broker(root: Path, host: str, port: int) -> None:
    path = root / "config.json"
    config = json.loads(path.read_text())
    if config.get("broker", {}).get("port") != port:  # another --mqtt-port this time
        config.setdefault("broker", {}).update(host=host, port=port)
        path.write_text(json.dumps(config, sort_keys=True))


CARD_POTS = ("books", "culture", "sport")  # the demo cards' pots (fleet_server/demo.py)


def demo_plan(codes: list[dict], categories, rng: random.Random, count: int = 5000):
    """Sales of the demo codes a partner can take: cards in its categories that have a pot
    (mostly within the caps), vouchers and coupons of its categories at their value (used ones
    and coupons out of order are refused, which the demo shows too)."""
    cards = [c["code"] for c in codes if c["kind"] == "card"]
    pots = [c for c in categories if c in CARD_POTS]
    others = [c for c in codes if c["kind"] != "card" and c["category"] in categories]
    # a series' coupons in their order, as a beneficiary brings them, mostly: a coupon drawn at
    # random would nearly always be refused as out of order, and the demo would show little else
    series: dict = {}
    for c in others:
        if c["kind"] == "coupon":
            series.setdefault(c.get("series"), []).append(c)
    plan = []
    for _ in range(count):
        if others and (not pots or rng.random() < 0.15):
            waiting = [queue for queue in series.values() if queue]
            if waiting and rng.random() < 0.85:
                c = rng.choice(waiting).pop(0)
            else:
                c = rng.choice(others)
            plan.append(PlannedSale("voucher", c["code"], c["value_cents"], None))
        elif pots:
            cents = rng.choice([150, 300, 450, 500, 800])
            plan.append(PlannedSale("valid", rng.choice(cards), cents, rng.choice(pots)))
    return plan


class DemoTerminals:
    """The demo's terminals selling in a background thread until stop()."""

    def __init__(self, flash_dirs: list[Path], codes: list[dict], categories_of: dict,
                 on_sale=None, think_s: tuple[float, float] | None = None):
        scenario = from_dict(GENTLE)
        scenario.max_s = 10 * 365 * 86400
        scenario.think_s = think_s or scenario.think_s
        self.terminals = [SimTerminal(root) for root in flash_dirs]
        now = time.monotonic()
        self.sellers = []
        for n, terminal in enumerate(self.terminals):
            rng = random.Random(n + int(time.time()))
            cats = categories_of.get(terminal.device_id) or ("books",)
            seller = Seller(terminal, demo_plan(codes, cats, rng), scenario, rng, now)
            seller.on_done = on_sale
            self.sellers.append(seller)
        self.engine = Engine(self.terminals, self.sellers, scenario)
        self.thread = threading.Thread(target=self._run, name="demo-terminals", daemon=True)

    def start(self) -> "DemoTerminals":
        for terminal in self.terminals:
            terminal.boot()
        self.thread.start()
        return self

    def _run(self) -> None:
        self.engine.run()

    def stop(self) -> None:
        self.engine.stop()
        self.thread.join(5)
        for terminal in self.terminals:
            terminal.shutdown()
