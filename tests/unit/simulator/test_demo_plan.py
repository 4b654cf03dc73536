"""The demo terminals' plan: a series' coupons come mostly in their order, so the demo shows
coupon sales approved and not only 'Coupon précédent d'abord'."""

import random

from simulator.demo import demo_plan


def _coupons(series_count=6):
    return [{"code": f"TD{s}{rank}", "kind": "coupon", "category": "driving",
             "value_cents": 30000 if rank == 1 else 50000, "series": s}
            for s in range(series_count) for rank in (1, 2, 3)]


def test_a_coupon_only_partner_sells_most_coupons_in_their_order():
    codes = _coupons()
    plan = demo_plan(codes, ("driving",), random.Random(7), count=40)
    approved = set()  # the ledger's rule: a coupon once, after the ones before it
    for sale in plan:
        series, rank = sale.token[2], int(sale.token[3])
        if sale.token not in approved and all(f"TD{series}{r}" in approved
                                              for r in range(1, rank)):
            approved.add(sale.token)
    assert len(approved) == len(codes)  # every coupon sold within 40 tries
    assert {sale.amount_cents for sale in plan if sale.token.endswith("1")} == {30000}


def test_cards_and_vouchers_still_make_the_bulk_where_there_are_pots():
    codes = [{"code": "9739", "kind": "card", "category": None, "value_cents": None},
             {"code": "TB1", "kind": "voucher", "category": "books", "value_cents": 1000}]
    plan = demo_plan(codes, ("books",), random.Random(1), count=500)
    cards = sum(sale.token == "9739" for sale in plan)
    assert 350 < cards < 500 and all(sale.kind in ("valid", "voucher") for sale in plan)


def test_a_coupon_refused_as_scanned_is_printed_without_an_amount(capsys):
    from simulator.demo_cli import _print_sale
    from simulator.seller import Sale

    refused = Sale("CT1", "voucher", "TD3000025", 50000, None, 0.0, outcome="declined",
                   code="coupon_out_of_order", refused_at_scan=True)
    sold = Sale("CT1", "voucher", "TD000001A", 30000, None, 0.0, outcome="approved", auth="A1")
    _print_sale(refused)
    _print_sale(sold)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("[CT1] sale TD3000025: ") and "EUR" not in lines[0]
    assert lines[1] == "[CT1] sale TD000001A 300,00 EUR: approved, auth A1"
