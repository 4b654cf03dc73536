"""The codes the demo's simulated terminals sell from: their own cards, vouchers and coupon
series, apart from the ones listed in demo-codes/codes.md, so that a listed voucher is still
unused and a listed coupon series still in order when someone tries them by hand, however
long the demo has been running. Not listed anywhere a person reads; kept in
terminal-codes.json beside the listing."""

import json
from pathlib import Path

from fleet_server.ledger.views import NotFound, PotView
from protocol import tokens

CARDS, VOUCHERS_PER_CATEGORY, SERIES = 12, 40, 6
FILE = "terminal-codes.json"


def _card(n: int) -> str:
    return tokens.make_card(f"9739{n:07d}")  # the listed cards are 9731...


def seed_terminal_codes(ledger, program_id: str, year: int, out: Path) -> list[dict]:
    """Create the terminals' codes once (idempotent on a kept database) and return them in the
    form the demo's sale plans read (code, kind, category, value_cents)."""
    codes = _codes()
    if not _exists(ledger):
        for code in codes:
            if code["kind"] == "card":
                ledger.create_beneficiary(program_id, code["code"], [
                    PotView("books", 500000, 600), PotView("culture", 500000, None),
                    PotView("sport", 500000, 2500)], name="Carte des terminaux de démo")
            elif code["kind"] == "voucher":
                ledger.create_voucher(program_id, code["code"], code["category"],
                                      code["value_cents"], year)
        for series in range(SERIES):
            ranked = [(c["code"], c["value_cents"]) for c in codes
                      if c["kind"] == "coupon" and c["series"] == series]
            ledger.create_coupon_series(program_id, "driving", year, ranked,
                                        card_code=_card(series + 1))
    (out / FILE).write_text(json.dumps(codes, indent=1) + "\n", encoding="utf-8")
    return codes


def _exists(ledger) -> bool:
    try:
        ledger.balances(_card(1))
        return True
    except NotFound:
        return False


def _codes() -> list[dict]:
    codes = [{"code": _card(n), "kind": "card", "category": None, "value_cents": None}
             for n in range(1, CARDS + 1)]
    for prefix, category, value in (("TB", "books", 1000), ("TC", "culture", 2000)):
        codes += [{"code": tokens.make_voucher(f"{prefix}{n:06d}"), "kind": "voucher",
                   "category": category, "value_cents": value}
                  for n in range(1, VOUCHERS_PER_CATEGORY + 1)]
    for series in range(SERIES):
        codes += [{"code": tokens.make_voucher(f"TD{series}{rank:05d}"), "kind": "coupon",
                   "category": "driving", "value_cents": value, "series": series}
                  for rank, value in enumerate((30000, 50000, 50000), 1)]
    return codes
