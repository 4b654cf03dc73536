"""Terminals racing on one pot, one voucher or one request key: money moves exactly as often as
it should, on every adapter and database."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest


def race(n_threads: int, work):
    """Run work(i) in n threads released at the same instant; results in thread order."""
    barrier = threading.Barrier(n_threads)

    def run(i):
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(n_threads) as pool:
        return list(pool.map(run, range(n_threads)))


@pytest.mark.parametrize("threads", [2, 8])
def test_terminals_racing_on_one_pot_never_overdraw_it(ledger_env, threads):
    admin = ledger_env.admin
    shop, card = admin.partner("sport"), admin.card(sport=1_000)

    def sell(i):
        return [ledger_env.debit(shop, card, 300, "sport", key=f"T{i}:{n}") for n in range(4)]

    results = [r for batch in race(threads, sell) for r in batch]
    approved = [r for r in results if r.approved]
    assert len(approved) == 3
    assert {r.code for r in results if not r.approved} == {"insufficient_balance"}
    assert admin.balance(card, "sport") == 100
    assert sorted(r.balance_cents for r in approved) == [100, 400, 700]
    assert len(admin.operations(shop)) == 3


def test_two_terminals_racing_for_the_last_euros_one_wins(ledger_env):
    admin = ledger_env.admin
    shop, card = admin.partner("sport"), admin.card(sport=500)
    results = race(2, lambda i: ledger_env.debit(shop, card, 400, "sport", key=f"D{i}"))
    assert sorted(r.approved for r in results) == [False, True]
    assert admin.balance(card, "sport") == 100


@pytest.mark.parametrize("threads", [2, 8])
def test_identical_requests_racing_make_one_operation(ledger_env, threads):
    admin = ledger_env.admin
    shop, card = admin.partner("sport"), admin.card(sport=5_000)
    results = race(threads, lambda i: ledger_env.debit(shop, card, 700, "sport", key="CT9:77"))
    assert results[0].approved and all(r == results[0] for r in results)
    assert admin.balance(card, "sport") == 4_300
    assert len(admin.operations(shop)) == 1


def test_one_voucher_racing_at_eight_counters_is_used_once(ledger_env):
    admin = ledger_env.admin
    shop, voucher = admin.partner("theatre"), admin.voucher("theatre", 900)
    results = race(8, lambda i: ledger_env.debit(shop, voucher, 900, key=f"V{i}"))
    assert sum(r.approved for r in results) == 1
    assert {r.code for r in results if not r.approved} == {"voucher_used"}


def test_voids_racing_on_one_operation_restore_the_pot_once(ledger_env):
    admin = ledger_env.admin
    shop, card = admin.partner("sport"), admin.card(sport=1_000)
    sale = ledger_env.debit(shop, card, 600, "sport")
    results = race(8, lambda i: ledger_env.void(shop, sale.operation_id, key=f"X{i}"))
    assert sum(r.approved for r in results) == 1
    assert {r.code for r in results if not r.approved} == {"already_voided"}
    assert admin.balance(card, "sport") == 1_000
