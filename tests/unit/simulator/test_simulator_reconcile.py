"""Reconciliation: what the terminals showed against the ledger, counted without mercy."""

from simulator.reconcile import percentile, reconcile, summarize
from simulator.seller import Sale

CARD = "973100000017"


def sale(dev="CT1", auth="AAAAAA", token=CARD, cents=500, outcome="approved", kind="valid",
         voided=False, code=None, latency=20.0):
    s = Sale(dev, kind, token, cents, "books", 0.0, confirmed=0.0, outcome=outcome, code=code,
             auth=auth if outcome == "approved" else None, voided=voided, latency_ms=latency)
    return s


def op(dev="CT1", auth="AAAAAA", token=CARD, cents=500, status="approved", op_id="OP1"):
    return {"id": op_id, "device_id": dev, "auth_code": auth, "token": token,
            "amount_cents": cents, "status": status, "category": "books"}


def run(sales, ops, initial=None, final=None):
    initial = initial if initial is not None else {CARD: {"books": 2000}}
    final = final if final is not None else {CARD: {"books": 2000 - sum(
        s.amount_cents for s in sales if s.outcome == "approved" and not s.voided
        and s.kind != "void")}}
    return reconcile(sales, ops, {"CT1", "CT2"}, initial, final)


def test_what_was_shown_is_what_the_ledger_holds():
    out = run([sale(), sale(auth="BBBBBB", cents=300), sale(outcome="declined", code="x")],
              [op(), op(auth="BBBBBB", cents=300, op_id="OP2")])
    assert (out["lost"], out["duplicated"], out["wallet_mismatches"]) == (0, 0, 0)
    assert out["ledger_operations"] == 2


def test_an_approval_shown_but_missing_from_the_ledger_is_lost():
    out = run([sale(), sale(auth="BBBBBB")], [op()])
    assert out["lost"] == 1 and "BBBBBB" in out["problems"][0]


def test_money_moved_but_never_shown_approved_is_lost():
    out = run([sale(outcome="declined", code="unknown_code", token="973199999990")],
              [op(token="973199999990")], initial={}, final={})
    assert out["lost"] == 1 and out["duplicated"] == 0


def test_a_second_debit_of_the_same_sale_is_duplicated():
    out = run([sale()], [op(), op(auth="ZZZZZZ", op_id="OP2")])
    assert out["duplicated"] == 1 and out["lost"] == 0


def test_operations_of_other_devices_are_not_ours():
    out = run([sale()], [op(), op(dev=None, auth="SEED00", op_id="SEED"),
                         op(dev="CT9", auth="OTHER0", op_id="OP9")])
    assert (out["lost"], out["duplicated"]) == (0, 0)


def test_a_cancellation_must_match_the_ledger_both_ways():
    shown_voided = run([sale(voided=True)], [op()], final={CARD: {"books": 2000}})
    assert shown_voided["lost"] == 1
    ledger_voided = run([sale()], [op(status="voided")])
    assert ledger_voided["lost"] == 1
    both = run([sale(voided=True)], [op(status="voided")], final={CARD: {"books": 2000}})
    assert both["lost"] == 0 and both["wallet_mismatches"] == 0


def test_wallets_end_at_initial_minus_approved_plus_voided_to_the_cent():
    sales = [sale(), sale(auth="BBBBBB", cents=300, voided=True)]
    ops = [op(), op(auth="BBBBBB", cents=300, status="voided", op_id="OP2")]
    assert run(sales, ops, final={CARD: {"books": 1500}})["wallet_mismatches"] == 0
    off_by_a_cent = run(sales, ops, final={CARD: {"books": 1499}})
    assert off_by_a_cent["wallet_mismatches"] == 1
    assert "expected 1500" in off_by_a_cent["problems"][0]


def test_the_summary_counts_outcomes_and_latency():
    sales = [sale(latency=10), sale(auth="B", latency=30),
             sale(outcome="declined", code="over_purchase_cap", latency=20),
             sale(outcome="error", code="ts_out_of_window", latency=40),
             sale(outcome="not_sent", code="offline", latency=None),
             sale(outcome="unresolved", latency=None),
             sale(kind="void", latency=15)]
    out = summarize(sales, 2.0)
    assert out["attempted"] == 6 and out["approved"] == 2
    assert out["declined"] == {"over_purchase_cap": 1}
    assert out["errors"] == 2 and out["errors_by_code"] == {"ts_out_of_window": 1,
                                                             "unresolved": 1}
    assert out["not_sent"] == {"offline": 1}
    assert out["voids"] == {"attempted": 1, "approved": 1}
    assert out["latency_ms"]["p50"] == 20.0 and out["latency_ms"]["count"] == 5


def test_percentiles():
    assert percentile([], 50) is None
    assert percentile([5.0], 99) == 5.0
    assert percentile(list(range(1, 101)), 50) == 50.5
    assert percentile(list(range(1, 101)), 99) == 99.0


def test_one_approval_shown_for_two_sales_is_a_lost_sale():
    # A stale or replayed result on the screen: two sales handed over, one debit in the ledger.
    out = run([sale(), sale()], [op()], final={CARD: {"books": 1500}})
    assert out["lost"] == 1 and "again" in out["problems"][0]
