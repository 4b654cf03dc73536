"""What every Ledger adapter must do, run against each of them (see conftest.ADAPTERS)."""

from datetime import UTC, datetime, timedelta

import pytest

from fleet_server.reference_ledger import rules
from protocol import tokens


def declined(result, code):
    return not result.approved and result.code == code


def test_card_debit_is_approved_and_takes_the_amount_from_the_pot(ledger_env):
    shop = ledger_env.admin.partner("books")
    card = ledger_env.admin.card(books=(2_000, 600))
    result = ledger_env.debit(shop, card, 550, "books", device_id="CT0000000000")
    assert result.approved and result.code is None
    assert result.amount_cents == 550 and result.balance_cents == 1_450
    assert result.operation_id.startswith("OP") and len(result.auth_code) == 6
    assert ledger_env.admin.balance(card, "books") == 1_450
    [op] = ledger_env.admin.operations(shop)
    assert (op.id, op.kind, op.token, op.amount_cents, op.status) == (
        result.operation_id, rules.KIND_CARD, card, 550, rules.OP_APPROVED)


@pytest.mark.parametrize("amount", [0, -100])
def test_amount_that_is_not_positive_is_invalid(ledger_env, amount):
    shop, card = ledger_env.admin.partner("books"), ledger_env.admin.card(books=2_000)
    assert declined(ledger_env.debit(shop, card, amount, "books"), "amount_invalid")


def test_amount_over_the_program_maximum_is_refused(ledger_env):
    shop, card = ledger_env.admin.partner("sport"), ledger_env.admin.card(sport=500_000)
    assert declined(ledger_env.debit(shop, card, 100_001, "sport"), "amount_over_max")


def test_unknown_codes_are_refused(ledger_env):
    admin = ledger_env.admin
    shop = admin.partner("books")
    assert declined(ledger_env.debit(shop, admin.new_card_code(), 100, "books"), "unknown_code")
    assert declined(ledger_env.debit(shop, admin.new_voucher_number(), 100), "unknown_code")


def test_blocked_card_is_refused(ledger_env):
    shop, card = ledger_env.admin.partner("books"), ledger_env.admin.card(True, books=2_000)
    assert declined(ledger_env.debit(shop, card, 100, "books"), "beneficiary_blocked")


def test_insufficient_balance_is_refused_and_shows_what_is_left(ledger_env):
    shop, card = ledger_env.admin.partner("books"), ledger_env.admin.card(books=300)
    result = ledger_env.debit(shop, card, 301, "books")
    assert declined(result, "insufficient_balance") and result.balance_cents == 300
    assert ledger_env.admin.balance(card, "books") == 300


def test_debit_over_the_per_purchase_cap_is_refused(ledger_env):
    shop, card = ledger_env.admin.partner("books"), ledger_env.admin.card(books=(2_000, 600))
    over = ledger_env.debit(shop, card, 601, "books")
    assert declined(over, "over_purchase_cap") and over.amount_cents == 600  # the cap
    assert ledger_env.debit(shop, card, 600, "books").approved


def test_special_pot_has_no_per_purchase_cap(ledger_env):
    shop, card = ledger_env.admin.partner("sport"), ledger_env.admin.card(sport=50_000)
    assert ledger_env.debit(shop, card, 45_000, "sport").balance_cents == 5_000


def test_category_the_card_has_no_pot_for_is_unknown(ledger_env):
    shop, card = ledger_env.admin.partner("books"), ledger_env.admin.card(books=2_000)
    assert declined(ledger_env.debit(shop, card, 100, "cinema"), "category_unknown")


def test_without_category_the_only_pot_the_partner_may_debit_is_used(ledger_env):
    shop = ledger_env.admin.partner("sport")
    card = ledger_env.admin.card(books=2_000, sport=3_000)
    assert ledger_env.debit(shop, card, 100, None).balance_cents == 2_900


def test_without_category_two_possible_pots_need_a_choice(ledger_env):
    shop = ledger_env.admin.partner("books", "sport")
    card = ledger_env.admin.card(books=2_000, sport=3_000)
    assert declined(ledger_env.debit(shop, card, 100, None), "category_required")


def test_deals_only_partner_cannot_record_a_sale(ledger_env):
    shop = ledger_env.admin.partner("books", can_take_payments=False)
    card = ledger_env.admin.card(books=2_000)
    assert declined(ledger_env.debit(shop, card, 100, "books"), "partner_cannot_pay")


@pytest.mark.parametrize("status", [rules.REQUESTED, rules.ACCEPTED, rules.TERMINATED])
def test_agreement_that_is_not_signed_allows_no_debit(ledger_env, status):
    shop = ledger_env.admin.partner("books", status=status)
    card = ledger_env.admin.card(books=2_000)
    assert declined(ledger_env.debit(shop, card, 100, "books"), "not_in_agreement")


def test_agreement_of_another_category_or_market_year_allows_no_debit(ledger_env):
    admin = ledger_env.admin
    shop = admin.partner("sport")
    admin.agreement(shop, "theatre", admin.year - 1)
    card = admin.card(books=2_000)
    assert declined(ledger_env.debit(shop, card, 100, "books"), "not_in_agreement")
    voucher = admin.voucher("theatre", 900, admin.year)
    assert declined(ledger_env.debit(shop, voucher, 900), "not_in_agreement")


def test_agreement_signed_later_opens_the_debits(ledger_env):
    admin = ledger_env.admin
    shop = admin.partner()
    agreement = admin.agreement(shop, "books", status=rules.ACCEPTED)
    card = admin.card(books=2_000)
    assert declined(ledger_env.debit(shop, card, 100, "books"), "not_in_agreement")
    admin.reference.set_agreement_status(agreement, rules.SIGNED)
    assert ledger_env.debit(shop, card, 100, "books").approved


def test_voucher_is_used_once_for_exactly_its_value(ledger_env):
    shop, voucher = ledger_env.admin.partner("theatre"), ledger_env.admin.voucher("theatre", 900)
    wrong = ledger_env.debit(shop, voucher, 500)
    assert declined(wrong, "voucher_amount") and wrong.amount_cents == 900  # what to debit
    first = ledger_env.debit(shop, voucher, 900)
    assert first.approved and first.amount_cents == 900 and first.balance_cents is None
    assert declined(ledger_env.debit(shop, voucher, 900), "voucher_used")
    [op] = ledger_env.admin.operations(shop)
    assert op.kind == rules.KIND_VOUCHER and op.category == "theatre"


def test_voucher_past_its_expiry_is_refused(ledger_env):
    shop = ledger_env.admin.partner("theatre")
    voucher = ledger_env.admin.voucher(expires_at=datetime.now(UTC) - timedelta(days=1))
    assert declined(ledger_env.debit(shop, voucher, 900), "voucher_expired")


def test_coupons_are_debited_in_order(ledger_env):
    shop = ledger_env.admin.partner("driving")
    c1, c2, c3 = ledger_env.admin.coupons(30_000, 50_000, 50_000)
    assert declined(ledger_env.debit(shop, c2, 50_000), "coupon_out_of_order")
    assert declined(ledger_env.debit(shop, c3, 50_000), "coupon_out_of_order")
    assert ledger_env.debit(shop, c1, 30_000).approved
    assert declined(ledger_env.debit(shop, c3, 50_000), "coupon_out_of_order")
    assert ledger_env.debit(shop, c2, 50_000).approved
    assert ledger_env.debit(shop, c3, 50_000).approved


def test_void_restores_the_pot(ledger_env):
    shop, card = ledger_env.admin.partner("books"), ledger_env.admin.card(books=2_000)
    sale = ledger_env.debit(shop, card, 500, "books")
    result = ledger_env.void(shop, sale.operation_id)
    assert result.approved and result.amount_cents == 500 and result.balance_cents == 2_000
    assert result.operation_id == sale.operation_id
    assert ledger_env.admin.balance(card, "books") == 2_000
    assert ledger_env.admin.operations(shop)[0].status == rules.OP_VOIDED


def test_void_restores_the_voucher(ledger_env):
    shop, voucher = ledger_env.admin.partner("theatre"), ledger_env.admin.voucher()
    sale = ledger_env.debit(shop, voucher, 900)
    assert ledger_env.void(shop, sale.operation_id).approved
    assert ledger_env.debit(shop, voucher, 900).approved


def test_void_of_a_coupon_waits_for_the_later_coupons_to_be_voided(ledger_env):
    shop = ledger_env.admin.partner("driving")
    c1, c2 = ledger_env.admin.coupons(30_000, 50_000)
    first, second = ledger_env.debit(shop, c1, 30_000), ledger_env.debit(shop, c2, 50_000)
    assert declined(ledger_env.void(shop, first.operation_id), "void_not_allowed")
    assert ledger_env.void(shop, second.operation_id).approved
    assert ledger_env.void(shop, first.operation_id).approved
    assert declined(ledger_env.debit(shop, c2, 50_000), "coupon_out_of_order")


def test_void_refusals(ledger_env):
    shop, other = ledger_env.admin.partner("books"), ledger_env.admin.partner("books")
    card = ledger_env.admin.card(books=2_000)
    sale = ledger_env.debit(shop, card, 500, "books")
    assert declined(ledger_env.void(shop, "OPNOSUCHOP00"), "void_unknown")
    assert declined(ledger_env.void(other, sale.operation_id), "void_unknown")
    assert ledger_env.void(shop, sale.operation_id).approved
    assert declined(ledger_env.void(shop, sale.operation_id), "already_voided")
    assert ledger_env.admin.balance(card, "books") == 2_000


def test_void_is_refused_once_reimbursement_is_requested_until_the_batch_is_cancelled(
        ledger_env):
    shop, card = ledger_env.admin.partner("books"), ledger_env.admin.card(books=2_000)
    sale = ledger_env.debit(shop, card, 500, "books")
    [batch] = [b for b in ledger_env.admin.settle_today() if b.partner_id == shop]
    assert (batch.count, batch.total_cents) == (1, 500)
    assert declined(ledger_env.void(shop, sale.operation_id), "void_not_allowed")
    assert ledger_env.admin.balance(card, "books") == 1_500
    ledger_env.admin.cancel_batch(batch.id)
    assert ledger_env.void(shop, sale.operation_id).approved
    assert ledger_env.admin.balance(card, "books") == 2_000


def test_same_idempotency_key_five_times_debits_once(ledger_env):
    shop, card = ledger_env.admin.partner("books"), ledger_env.admin.card(books=2_000)
    results = [ledger_env.debit(shop, card, 500, "books", key="CT1234:42") for _ in range(5)]
    assert all(r == results[0] for r in results) and results[0].approved
    assert ledger_env.admin.balance(card, "books") == 1_500
    assert len(ledger_env.admin.operations(shop)) == 1


def test_a_retried_void_gets_its_first_answer(ledger_env):
    shop, card = ledger_env.admin.partner("books"), ledger_env.admin.card(books=2_000)
    sale = ledger_env.debit(shop, card, 500, "books")
    first = ledger_env.void(shop, sale.operation_id, key="CT1234:43")
    again = ledger_env.void(shop, sale.operation_id, key="CT1234:43")
    assert first.approved and again == first
    assert ledger_env.admin.balance(card, "books") == 2_000


def test_a_retried_decline_stays_declined_even_when_the_pot_was_loaded_since(ledger_env):
    shop, card = ledger_env.admin.partner("books"), ledger_env.admin.card(books=100)
    assert declined(ledger_env.debit(shop, card, 500, "books", key="k1"), "insufficient_balance")
    ledger_env.admin.reference.load_pot(card, "books", 1_000)
    assert declined(ledger_env.debit(shop, card, 500, "books", key="k1"), "insufficient_balance")
    assert ledger_env.debit(shop, card, 500, "books", key="k2").approved


def test_idempotency_keys_of_two_partners_do_not_mix(ledger_env):
    admin = ledger_env.admin
    shop, other, card = admin.partner("books"), admin.partner("books"), admin.card(books=2_000)
    mine = ledger_env.debit(shop, card, 500, "books", key="CT0001:1")
    theirs = ledger_env.debit(other, card, 300, "books", key="CT0001:1")
    assert mine.approved and theirs.approved and mine.operation_id != theirs.operation_id
    assert admin.balance(card, "books") == 1_200


def test_lookup_tells_a_vouchers_value_and_category_without_using_it(ledger_env):
    shop, voucher = ledger_env.admin.partner("theatre"), ledger_env.admin.voucher("theatre", 900)
    info = ledger_env.ledger.lookup(shop, voucher)
    assert info.usable and info.code is None
    assert (info.value_cents, info.category) == (900, "theatre")
    assert ledger_env.ledger.lookup(shop, voucher).usable  # asking twice changes nothing
    assert ledger_env.debit(shop, voucher, 900).approved
    used = ledger_env.ledger.lookup(shop, voucher)
    assert (used.code, used.value_cents) == ("voucher_used", 900)


def test_lookup_says_why_a_code_cannot_be_used_now(ledger_env):
    admin = ledger_env.admin
    driving, elsewhere = admin.partner("driving"), admin.partner("books")
    c1, c2 = admin.coupons(30_000, 50_000)
    assert ledger_env.ledger.lookup(driving, c2).code == "coupon_out_of_order"
    assert ledger_env.ledger.lookup(elsewhere, c1).code == "not_in_agreement"
    unknown = ledger_env.ledger.lookup(driving, tokens.make_voucher("ZZZZZZZZ"))
    assert (unknown.code, unknown.value_cents) == ("unknown_code", 0)
    assert admin.operations(driving) == []  # nothing moved

