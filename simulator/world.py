"""The data a scenario sells against: one program, partners, and for each terminal the cards,
vouchers and coupons its planned sales need, created in the ledger through the control.

Each terminal gets its own codes, so every wallet's expected balance follows from what its one
terminal showed. What each planned sale scans and types is decided here, from the seed.
"""

import os
import random
from dataclasses import dataclass, field

from protocol import tokens

YEAR_OFFSET = 0
PARTNER_CATEGORIES = ("books", "driving")  # two: card sales go through the category question
BOOKS_CAP = 600
CULTURE_BALANCE = 5000
POOR_BALANCE = 100
VOUCHER_VALUE = 1000
COUPONS = (15000, 25000)
PROGRAM_MAX = 30000


@dataclass
class PlannedSale:
    kind: str
    token: str
    amount_cents: int
    category: str | None  # the category to pick when the terminal asks (cards)


@dataclass
class TerminalWorld:
    index: int
    partner_id: str
    plan: list[PlannedSale] = field(default_factory=list)
    cards: dict = field(default_factory=dict)  # card -> {category: initial balance}


def _card() -> str:
    return tokens.make_card("".join(str(b % 10) for b in os.urandom(11)))


def _voucher() -> str:
    return tokens.make_voucher(tokens.random_payload32(8, os.urandom))


class World:
    def __init__(self, control, scenario, year: int):
        self.control, self.scenario, self.year = control, scenario, year
        self.program_id = None
        self.partners: list[str] = []
        self.terminals: list[TerminalWorld] = []

    def create(self, count: int) -> "World":
        s = self.scenario
        self.program_id = self.control.create_program("Simulation", self.year, PROGRAM_MAX)
        self.partners = [self.control.add_partner(f"Librairie Simu {n + 1}", self.program_id,
                                                  self.year, PARTNER_CATEGORIES)
                         for n in range(s.partners)]
        kinds = list(s.mix)
        weights = [s.mix[k] for k in kinds]
        for i in range(count):
            rng = random.Random(s.seed * 1_000_003 + i)
            planned = rng.choices(kinds, weights, k=s.sales)
            self.terminals.append(self._terminal(i, planned, rng))
        return self

    def _terminal(self, i: int, planned: list[str], rng: random.Random) -> TerminalWorld:
        s, c = self.scenario, self.control
        world = TerminalWorld(i, self.partners[i % len(self.partners)])
        rich = poor = reused = series = sport = None

        def card_with_money():
            nonlocal rich
            if rich is None:
                rich = _card()
                books = BOOKS_CAP * max(1, len(planned)) + 1000
                c.add_card(self.program_id, rich, {"books": (books, BOOKS_CAP),
                                                   "culture": (CULTURE_BALANCE, None)})
                world.cards[rich] = {"books": books, "culture": CULTURE_BALANCE}
            return rich

        for kind in planned:
            if kind == "valid":
                sale = PlannedSale(kind, card_with_money(),
                                   rng.randint(s.min_cents, s.max_cents), "books")
            elif kind == "over_cap":
                sale = PlannedSale(kind, card_with_money(), BOOKS_CAP + 300, "books")
            elif kind == "insufficient":
                if poor is None:
                    poor = _card()
                    c.add_card(self.program_id, poor, {"books": (POOR_BALANCE, None)})
                    world.cards[poor] = {"books": POOR_BALANCE}
                sale = PlannedSale(kind, poor, 500, "books")
            elif kind == "voucher":
                number = _voucher()
                c.add_voucher(self.program_id, number, "books", VOUCHER_VALUE, self.year)
                sale = PlannedSale(kind, number, VOUCHER_VALUE, None)
            elif kind == "voucher_reuse":
                if reused is None:
                    reused = _voucher()
                    c.add_voucher(self.program_id, reused, "books", VOUCHER_VALUE, self.year)
                    c.spend_voucher(world.partner_id, reused, VOUCHER_VALUE, f"seed:{reused}")
                sale = PlannedSale(kind, reused, VOUCHER_VALUE, None)
            elif kind == "coupon_out_of_order":
                if series is None:
                    series = [(_voucher(), value) for value in COUPONS]
                    c.add_coupon_series(self.program_id, "driving", self.year, series,
                                        card_with_money())
                sale = PlannedSale(kind, series[1][0], series[1][1], None)
            elif kind == "wrong_agreement":
                if sport is None:
                    sport = _voucher()
                    c.add_voucher(self.program_id, sport, "sport", VOUCHER_VALUE, self.year)
                sale = PlannedSale(kind, sport, VOUCHER_VALUE, None)
            else:  # unknown_code: a well-formed card number nobody issued
                sale = PlannedSale(kind, _card(), rng.randint(s.min_cents, s.max_cents),
                                   "books")
            world.plan.append(sale)
        return world
