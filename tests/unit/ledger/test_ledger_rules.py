"""The reference ledger's business rules, without a database."""

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet_server.reference_ledger import rules
from fleet_server.reference_ledger.rules import (
    Agreement,
    Beneficiary,
    CouponSeries,
    DebitPot,
    Decline,
    Operation,
    Partner,
    Pot,
    Program,
    UseVoucher,
    Voucher,
)

YEAR = 2024
NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)
PROGRAM = Program("PG1", YEAR, max_amount_cents=50_000)
SHOP = Partner("shop")
BOOKS = Pot(1, "books", 2_000, per_purchase_cap_cents=600)
SPORT = Pot(2, "sport", 5_000)  # a special pot: no cap
CARD = Beneficiary("B1", "973100000420", "PG1", pots=(BOOKS, SPORT))


def signed(*categories, year=YEAR, status=rules.SIGNED):
    return [Agreement("shop", "PG1", c, year, status) for c in categories]


def card_debit(amount, category="books", agreements=None, beneficiary=CARD, partner=SHOP):
    return rules.decide_debit(amount_cents=amount, category=category, partner=partner,
                              program=PROGRAM, beneficiary=beneficiary,
                              agreements=signed("books", "sport") if agreements is None
                              else agreements, now=NOW)


def voucher(rank=None, used=None, value=900, year=YEAR, expires_at=None, number="2DZHB6P2K"):
    return Voucher(rank or 0, number, "PG1", "theatre", value, year, expires_at, used,
                   series_id=7 if rank else None, rank=rank)


def voucher_debit(v, amount=900, series=None, agreements=None, category=None):
    return rules.decide_debit(amount_cents=amount, category=category, partner=SHOP,
                              program=PROGRAM, voucher=v, series=series, now=NOW,
                              agreements=signed("theatre") if agreements is None else agreements)


def test_card_debit_within_cap_and_balance_takes_from_the_pot():
    decision = card_debit(550)
    assert decision == DebitPot(BOOKS, 550)
    assert decision.balance_after == 1_450


def test_debit_over_the_per_purchase_cap_is_refused_with_the_balance_and_the_cap():
    assert card_debit(601) == Decline("over_purchase_cap", 2_000, 600)


def test_special_pot_has_no_per_purchase_cap():
    assert card_debit(4_500, "sport") == DebitPot(SPORT, 4_500)


def test_debit_over_the_balance_is_refused():
    assert card_debit(5_001, "sport") == Decline("insufficient_balance", 5_000)


@pytest.mark.parametrize("amount", [0, -1, True, 1.5, "100", None])
def test_amount_must_be_a_positive_whole_number_of_cents(amount):
    assert card_debit(amount) == Decline("amount_invalid")


def test_amount_over_the_program_maximum_is_refused():
    assert card_debit(50_001, "sport") == Decline("amount_over_max")


def test_blocked_card_is_refused():
    blocked = Beneficiary("B1", "973100000420", "PG1", blocked=True, pots=(BOOKS,))
    assert card_debit(100, beneficiary=blocked) == Decline("beneficiary_blocked")


def test_unknown_code_is_refused():
    assert card_debit(100, beneficiary=None) == Decline("unknown_code")


def test_deals_only_partner_cannot_take_payments():
    assert card_debit(100, partner=Partner("shop", can_take_payments=False)) == Decline(
        "partner_cannot_pay")


def test_unknown_partner_cannot_take_payments():
    assert card_debit(100, partner=None) == Decline("partner_cannot_pay")


def test_category_the_card_has_no_pot_for_is_unknown():
    assert card_debit(100, "cinema") == Decline("category_unknown")


def test_without_category_the_only_pot_the_agreements_allow_is_used():
    assert card_debit(100, None, agreements=signed("sport")) == DebitPot(SPORT, 100)


def test_without_category_two_allowed_pots_need_a_choice():
    assert card_debit(100, None) == Decline("category_required")


def test_without_category_and_no_allowed_pot_it_is_outside_the_agreement():
    assert card_debit(100, None, agreements=signed("cinema")) == Decline("not_in_agreement")


@pytest.mark.parametrize("agreements", [
    [], signed("sport"), signed("books", year=YEAR - 1),
    signed("books", status=rules.REQUESTED), signed("books", status=rules.ACCEPTED),
    signed("books", status=rules.TERMINATED),
    [Agreement("shop", "OTHER", "books", YEAR, rules.SIGNED)],
])
def test_only_a_signed_agreement_for_category_program_and_year_allows_a_debit(agreements):
    assert card_debit(100, "books", agreements=agreements) == Decline("not_in_agreement")


def test_voucher_is_used_for_exactly_its_value():
    v = voucher()
    assert voucher_debit(v) == UseVoucher(v)
    # The refusal carries the voucher's value: the terminal offers to debit exactly that.
    assert voucher_debit(v, amount=500) == Decline("voucher_amount", amount_cents=v.value_cents)
    assert voucher_debit(v, amount=1_000) == Decline("voucher_amount", amount_cents=v.value_cents)


def test_used_voucher_is_refused():
    assert voucher_debit(voucher(used="OPX")) == Decline("voucher_used")


def test_voucher_past_its_expiry_is_refused():
    assert voucher_debit(voucher(expires_at=NOW)) == Decline("voucher_expired")


def test_voucher_of_another_market_year_is_outside_the_agreement():
    assert voucher_debit(voucher(year=YEAR + 1)) == Decline("not_in_agreement")


def test_voucher_debit_with_another_category_is_refused():
    assert voucher_debit(voucher(), category="books") == Decline("category_unknown")


def test_coupon_two_is_refused_until_coupon_one_is_validated():
    c1, c2 = voucher(1, value=30_000), voucher(2, value=50_000)
    assert voucher_debit(c2, 50_000, CouponSeries(7, (c1, c2))) == Decline("coupon_out_of_order")
    c1_used = voucher(1, used="OP1", value=30_000)
    assert voucher_debit(c2, 50_000, CouponSeries(7, (c1_used, c2))) == UseVoucher(c2)


def test_coupon_one_cannot_be_voided_once_coupon_two_is_spent():
    op = Operation("OP1", "shop", rules.KIND_COUPON, rules.OP_APPROVED, 30_000, voucher_id=1)
    series = CouponSeries(7, (voucher(1, used="OP1"), voucher(2, used="OP2")))
    assert rules.decide_void(operation=op, partner_id="shop", series=series, rank=1) == Decline(
        "void_not_allowed")


def test_void_of_an_approved_operation_is_allowed():
    op = Operation("OP1", "shop", rules.KIND_CARD, rules.OP_APPROVED, 500, pot_id=1)
    assert rules.decide_void(operation=op, partner_id="shop") == rules.VoidOperation(op)


@pytest.mark.parametrize("op, partner, code", [
    (None, "shop", "void_unknown"),
    (Operation("OP1", "other", "card", rules.OP_APPROVED, 5), "shop", "void_unknown"),
    (Operation("OP1", "shop", "card", rules.OP_VOIDED, 5), "shop", "already_voided"),
    (Operation("OP1", "shop", "card", rules.OP_APPROVED, 5, batch_id="LT1"), "shop",
     "void_not_allowed"),
])
def test_void_refusals(op, partner, code):
    assert rules.decide_void(operation=op, partner_id=partner) == Decline(code)


def test_agreement_goes_requested_accepted_signed_terminated_only():
    assert rules.next_agreement_status(rules.REQUESTED, rules.ACCEPTED) == rules.ACCEPTED
    assert rules.next_agreement_status(rules.ACCEPTED, rules.SIGNED) == rules.SIGNED
    assert rules.next_agreement_status(rules.SIGNED, rules.TERMINATED) == rules.TERMINATED
    with pytest.raises(ValueError):
        rules.next_agreement_status(rules.REQUESTED, rules.SIGNED)
    with pytest.raises(ValueError):
        rules.next_agreement_status(rules.TERMINATED, rules.SIGNED)


@given(balance=st.integers(0, 10**7), cap=st.one_of(st.none(), st.integers(1, 10**6)),
       amount=st.integers(-10, 10**7))
def test_an_approved_card_debit_never_overdraws_nor_exceeds_the_cap(balance, cap, amount):
    pot = Pot(1, "books", balance, cap)
    card = Beneficiary("B1", "973100000420", "PG1", pots=(pot,))
    decision = rules.decide_debit(amount_cents=amount, category="books", partner=SHOP,
                                  program=Program("PG1", YEAR), beneficiary=card,
                                  agreements=signed("books"))
    if isinstance(decision, DebitPot):
        assert 0 < amount <= balance and (cap is None or amount <= cap)
        assert decision.balance_after >= 0
    else:
        assert decision.code in ("amount_invalid", "over_purchase_cap", "insufficient_balance")
