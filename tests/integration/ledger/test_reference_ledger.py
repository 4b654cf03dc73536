"""The reference ledger's own debit path, beyond the contract: the less common shapes of state
it loads (a card without pots, vouchers owned by a card), a claimed key whose first request rolls
back, and how many statements a debit costs (the hot path must stay short)."""

import secrets
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import event, insert
from sqlalchemy.orm import sessionmaker

from fleet_server.ledger.port import Conflict, DebitRequest, VoidRequest
from fleet_server.reference_ledger import rules
from fleet_server.reference_ledger.reference import PotView, ReferenceLedger
from fleet_server.reference_ledger.tables import IdempotencyRow
from protocol import tokens

YEAR = 2024


def random_card() -> str:
    return tokens.make_card("".join(secrets.choice("0123456789") for _ in range(11)))


def random_voucher() -> str:
    return tokens.make_voucher(tokens.random_payload32(8, secrets.token_bytes))


@pytest.fixture
def env(ledger_db):
    ledger = ReferenceLedger(ledger_db)
    program = ledger.create_program("Pass", YEAR)
    shop = ledger.create_partner("Librairie")
    for category in ("books", "theatre", "driving"):
        ledger.create_agreement(shop, program, category, YEAR, rules.SIGNED)
    return SimpleNamespace(ledger=ledger, program=program, shop=shop,
                           engine=ledger_db.kw["bind"])


def debit(env, token, amount, category=None, key=None):
    return env.ledger.debit(DebitRequest(key or secrets.token_hex(8), env.shop, token, amount,
                                         category, datetime.now(UTC)))


def void(env, operation_id):
    return env.ledger.void(VoidRequest(secrets.token_hex(8), env.shop, operation_id,
                                       datetime.now(UTC)))


@contextmanager
def statements(engine):
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        seen.append(statement.split()[0].upper())

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_a_card_without_pots_is_known_and_refused_for_what_it_lacks(env):
    card = random_card()
    env.ledger.create_beneficiary(env.program, card, [])
    assert debit(env, card, 100, "books").code == "category_unknown"
    assert debit(env, card, 100).code == "not_in_agreement"
    env.ledger.set_beneficiary_blocked(card, True)
    assert debit(env, card, 100, "books").code == "beneficiary_blocked"


def test_a_voucher_follows_the_card_that_owns_it(env):
    card = random_card()
    env.ledger.create_beneficiary(env.program, card, [PotView("books", 1_000)])
    voucher = env.ledger.create_voucher(env.program, random_voucher(), "theatre", 900, YEAR,
                                        card_code=card)
    env.ledger.set_beneficiary_blocked(card, True)
    assert debit(env, voucher, 900).code == "beneficiary_blocked"
    env.ledger.set_beneficiary_blocked(card, False)
    sale = debit(env, voucher, 900)
    assert sale.approved and sale.balance_cents is None
    assert env.ledger.get_operation(sale.operation_id).kind == rules.KIND_VOUCHER
    assert env.ledger.voucher_used(voucher)
    assert void(env, sale.operation_id).approved and not env.ledger.voucher_used(voucher)


def test_coupons_owned_by_a_card_keep_their_order(env):
    card = random_card()
    env.ledger.create_beneficiary(env.program, card, [])
    first, second = random_voucher(), random_voucher()
    env.ledger.create_coupon_series(env.program, "driving", YEAR,
                                    [(first, 30_000), (second, 50_000)], card_code=card)
    assert debit(env, second, 50_000).code == "coupon_out_of_order"
    sale = debit(env, first, 30_000)
    assert sale.approved
    assert env.ledger.get_operation(sale.operation_id).kind == rules.KIND_COUPON
    assert debit(env, second, 50_000).approved


def test_a_key_whose_first_request_rolls_back_is_served_by_the_next(env):
    card = random_card()
    env.ledger.create_beneficiary(env.program, card, [PotView("books", 1_000)])
    results = []
    with env.engine.connect() as holder:
        holder.begin()
        holder.execute(insert(IdempotencyRow.__table__).values(
            partner_id=env.shop, idempotency_key="K1", kind="debit", status="pending",
            created_at=datetime.now(UTC)))
        twin = threading.Thread(target=lambda: results.append(debit(env, card, 300, "books",
                                                                    key="K1")))
        twin.start()
        time.sleep(0.3)
        assert twin.is_alive()  # it waits on the key (PostgreSQL) or the write lock (SQLite)
        holder.rollback()
    twin.join(10)
    assert results[0].approved and results[0].balance_cents == 700
    assert debit(env, card, 300, "books", key="K1") == results[0]
    assert env.ledger.balances(card) == [PotView("books", 700)]


def test_a_debit_and_a_void_take_a_handful_of_statements(env):
    card = random_card()
    env.ledger.create_beneficiary(env.program, card, [PotView("books", 1_000)])
    debit(env, card, 100, "books")  # warm: nothing below depends on first-use work
    with statements(env.engine) as seen:
        sale = debit(env, card, 100, "books", key="S1")
    # (BEGIN IMMEDIATE on SQLite,) claim, partner, card and pots, pot, operation, answer
    assert [s for s in seen if s != "BEGIN"] == [
        "INSERT", "SELECT", "SELECT", "UPDATE", "INSERT", "UPDATE"]
    with statements(env.engine) as seen:
        assert debit(env, card, 100, "books", key="S1") == sale
    assert [s for s in seen if s != "BEGIN"] == ["INSERT", "SELECT"]
    with statements(env.engine) as seen:
        assert void(env, sale.operation_id).balance_cents == 900
    # claim, operation, void it, pot (RETURNING the balance), answer
    assert [s for s in seen if s != "BEGIN"] == ["INSERT", "SELECT", "UPDATE", "UPDATE",
                                                 "UPDATE"]


def test_the_reference_ledger_needs_a_bound_session_factory():
    with pytest.raises(ValueError):
        ReferenceLedger(sessionmaker())


def test_inside_a_caller_s_transaction_a_taken_key_moves_no_money(env):
    # within(): the record is written with the answer (on PostgreSQL in the same statement as
    # the pot and the operation); a key answered before makes the whole attempt conflict.
    card = random_card()
    env.ledger.create_beneficiary(env.program, card, [PotView("books", 1_000)])
    first = debit(env, card, 100, "books", key="K1")
    request = DebitRequest("K1", env.shop, card, 300, "books", datetime.now(UTC))
    with pytest.raises(Conflict), env.engine.begin() as conn:
        env.ledger.within(conn).debit(request)
    assert env.ledger.balances(card) == [PotView("books", 900)]
    with env.engine.begin() as conn:  # the caller's next attempt reads the stored answer
        assert env.ledger.within(conn, careful=True).debit(request) == first
    fresh = DebitRequest("K2", env.shop, card, 300, "books", datetime.now(UTC))
    with env.engine.begin() as conn:
        sale = env.ledger.within(conn).debit(fresh)
    assert sale.approved and sale.balance_cents == 600
    assert env.ledger.balances(card) == [PotView("books", 600)]
    assert debit(env, card, 300, "books", key="K2") == sale
