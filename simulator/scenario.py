"""Scenario files: how many terminals, how fast they sell, what is scanned, what goes wrong.

TOML (or YAML when PyYAML is installed), every key optional:

    [fleet]
    terminals = 50           # --count overrides
    sales = 20               # sales per terminal; --sales overrides
    think_s = [0.2, 1.0]     # pause between two sales of one terminal (uniform), seconds
    partners = 5             # terminals are spread over this many partners
    micropython = 0          # of the terminals, how many run on the micropython binary
    seed = 1
    max_s = 600              # give up waiting after this long (unresolved sales are errors)

    [amounts]
    min_cents = 100          # valid card sales: uniform in [min, max], max <= the books cap
    max_cents = 600

    [mix]                    # relative weights of what is scanned
    valid = 70               # a card with money, within the per-purchase cap
    voucher = 5              # an unused exchange voucher at its value
    insufficient = 5         # a card whose pot is too small
    over_cap = 5             # a card, amount over the per-purchase cap
    voucher_reuse = 5        # a voucher already used
    coupon_out_of_order = 3  # driving coupon 2 before coupon 1
    wrong_agreement = 3      # a voucher of a category the partner has no agreement for
    unknown_code = 4         # a well-formed card number the ledger does not know
    void_after = 0.1         # chance to cancel an approved card sale right away

    [[faults]]               # at = share of the planned sales done (0..1) when it strikes
    kind = "kill"            # drop | kill | skew | broker_restart | server_restart
    at = 0.3
    count = 3                # terminals hit (drop, kill, skew)
    down_s = 1.0             # kill: power off this long; restarts: how long it is down
    # skew_s = 90            # skew: local clock minus true time, for for_s seconds
    # for_s = 5

drop and kill strike a terminal right after it sent a sale, before the answer (the case that
matters); skew changes the terminal's clock while it sells.
"""

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

SCENARIOS = Path(__file__).parent / "scenarios"  # the shipped scenario files
KINDS = ("valid", "voucher", "insufficient", "over_cap", "voucher_reuse",
         "coupon_out_of_order", "wrong_agreement", "unknown_code")
FAULT_KINDS = ("drop", "kill", "skew", "broker_restart", "server_restart")


class ScenarioError(ValueError):
    pass


@dataclass
class Fault:
    kind: str
    at: float = 0.5
    count: int = 1
    down_s: float = 1.0
    skew_s: int = 90
    for_s: float = 5.0


@dataclass
class Scenario:
    terminals: int = 3
    sales: int = 10
    think_s: tuple[float, float] = (0.5, 2.0)
    partners: int = 3
    micropython: int = 0
    seed: int = 1
    max_s: float = 600.0
    min_cents: int = 100
    max_cents: int = 600
    mix: dict = field(default_factory=lambda: {"valid": 1})
    void_after: float = 0.0
    faults: list[Fault] = field(default_factory=list)

    BOOKS_CAP = 600  # the per-purchase cap of the cards' books pot

    def validate(self) -> "Scenario":
        if not 1 <= self.terminals <= 100_000:
            raise ScenarioError("terminals must be 1..100000")
        if not 0 <= self.sales <= 100_000:
            raise ScenarioError("sales must be 0..100000")
        if not 0 <= self.micropython <= self.terminals:
            raise ScenarioError("micropython must be 0..terminals")
        if not 0 < self.min_cents <= self.max_cents <= self.BOOKS_CAP:
            raise ScenarioError(f"amounts: 0 < min_cents <= max_cents <= {self.BOOKS_CAP}")
        lo, hi = self.think_s
        if not 0 <= lo <= hi <= 3600:
            raise ScenarioError("think_s is [low, high] seconds, 0 <= low <= high")
        unknown = set(self.mix) - set(KINDS)
        if unknown:
            raise ScenarioError(f"unknown mix entries {sorted(unknown)}; known: {KINDS}")
        if any(not isinstance(w, int | float) or not 0 <= w < 1e9 for w in self.mix.values()) \
                or sum(self.mix.values()) <= 0:
            raise ScenarioError("mix weights are numbers >= 0, not all zero")
        if not 0 <= self.void_after <= 1:
            raise ScenarioError("void_after is a probability, 0..1")
        if not 0 < self.max_s <= 10 * 365 * 86400:
            raise ScenarioError("max_s is seconds, more than 0")
        self.partners = max(1, min(self.partners, self.terminals))
        for fault in self.faults:
            if fault.kind not in FAULT_KINDS:
                raise ScenarioError(f"unknown fault {fault.kind!r}; known: {FAULT_KINDS}")
            if not (0 <= fault.at <= 1 and 1 <= fault.count <= 100_000
                    and 0 <= fault.down_s <= 3600 and 0 <= fault.for_s <= 3600):
                raise ScenarioError(f"fault {fault.kind}: 0 <= at <= 1, count >= 1, "
                                    "0 <= down_s, for_s <= 3600")
        return self


def _table(data: dict, name: str, default):
    value = data.get(name, default)
    if not isinstance(value, type(default)):
        shape = "list" if isinstance(default, list) else "table"
        raise ScenarioError(f"[{name}] must be a {shape}")
    return value


def from_dict(data: dict) -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError("a scenario is a table of sections")
    fleet, amounts = _table(data, "fleet", {}), _table(data, "amounts", {})
    mix = dict(_table(data, "mix", dict(STANDARD_MIX)))
    void_after = mix.pop("void_after", 0.0)
    try:
        faults = [Fault(**f) for f in _table(data, "faults", [])]
        think = fleet.get("think_s", (0.5, 2.0))
        scenario = Scenario(
            terminals=int(fleet.get("terminals", 3)), sales=int(fleet.get("sales", 10)),
            think_s=tuple(float(x) for x in think),
            partners=int(fleet.get("partners", 3)),
            micropython=int(fleet.get("micropython", 0)), seed=int(fleet.get("seed", 1)),
            max_s=float(fleet.get("max_s", 600)),
            min_cents=int(amounts.get("min_cents", 100)),
            max_cents=int(amounts.get("max_cents", 600)),
            mix=mix, void_after=float(void_after), faults=faults)
    except (TypeError, ValueError, OverflowError) as err:
        raise ScenarioError(f"bad scenario: {err}") from err
    if len(scenario.think_s) != 2:
        raise ScenarioError("think_s is [low, high]")
    for fault in scenario.faults:
        for name in ("at", "down_s", "for_s"):
            if not isinstance(getattr(fault, name), int | float):
                raise ScenarioError(f"fault {fault.kind}: {name} is a number")
        if not isinstance(fault.count, int) or not isinstance(fault.skew_s, int):
            raise ScenarioError(f"fault {fault.kind}: count and skew_s are integers")
    return scenario.validate()


def load(path: str | Path) -> Scenario:
    path = Path(path)
    raw = path.read_bytes()
    if len(raw) > 1_000_000:
        raise ScenarioError("scenario file larger than 1 MB")
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as err:
            raise ScenarioError("YAML scenarios need PyYAML (pip install pyyaml)") from err
        data = yaml.safe_load(raw)
    else:
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise ScenarioError(f"{path}: {err}") from err
    return from_dict(data or {})


STANDARD_MIX = {"valid": 70, "voucher": 5, "insufficient": 5, "over_cap": 5, "voucher_reuse": 4,
                "coupon_out_of_order": 3, "wrong_agreement": 3, "unknown_code": 5,
                "void_after": 0.1}

GENTLE = {  # the demo's: a few sales a minute, mostly valid, some refusals
    "fleet": {"terminals": 3, "sales": 100_000, "think_s": [5, 12], "partners": 3},
    "mix": {"valid": 70, "voucher": 5, "insufficient": 5, "over_cap": 8, "unknown_code": 4,
            "voucher_reuse": 4, "wrong_agreement": 4, "void_after": 0.1},
}

EVERY_FAULT = [  # what the CI end-to-end run throws at the fleet
    Fault("drop", at=0.1, count=4), Fault("kill", at=0.2, count=4, down_s=0.5),
    Fault("skew", at=0.3, count=3, skew_s=90, for_s=3),
    Fault("skew", at=0.35, count=2, skew_s=900, for_s=2),
    Fault("broker_restart", at=0.45, down_s=0.5), Fault("kill", at=0.6, count=3, down_s=0.3),
    Fault("server_restart", at=0.7, down_s=0.5), Fault("drop", at=0.85, count=4),
]
