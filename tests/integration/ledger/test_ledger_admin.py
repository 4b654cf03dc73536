"""The reference ledger's administration calls (seed data, REST API): not part of the port."""

import secrets
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from fleet_server.adapters.db import make_engine, make_session_factory
from fleet_server.ledger.port import DebitRequest, LedgerUnavailable
from fleet_server.reference_ledger import rules
from fleet_server.reference_ledger.reference import NotFound, PotView, ReferenceLedger
from protocol.tokens import make_card, make_voucher


@pytest.fixture
def env(ledger_db):
    ledger = ReferenceLedger(ledger_db)
    program = ledger.create_program("Pass", 2024)
    shop = ledger.create_partner("Librairie")
    ledger.create_agreement(shop, program, "books", 2024, rules.SIGNED)
    card = make_card("".join(secrets.choice("0123456789") for _ in range(11)))
    ledger.create_beneficiary(program, card, [PotView("books", 5_000, 600)])
    return SimpleNamespace(ledger=ledger, program=program, shop=shop, card=card)


def sell(env, amount, device_id=None):
    result = env.ledger.debit(DebitRequest(secrets.token_hex(8), env.shop, env.card, amount,
                                           "books", datetime.now(UTC), device_id))
    assert result.approved
    return result.operation_id


def test_operations_are_listed_newest_first_with_filters(env):
    first = sell(env, 100, "CTAAAAAAAAA")
    second = sell(env, 200, "CTBBBBBBBBB")
    ledger = env.ledger
    assert [o.id for o in ledger.list_operations(partner_id=env.shop)] == [second, first]
    assert [o.id for o in ledger.list_operations(device_id="CTAAAAAAAAA")] == [first]
    assert [o.id for o in ledger.list_operations(partner_id=env.shop, search=first[-5:].lower())
            ] == [first]
    assert len(ledger.list_operations(partner_id=env.shop, search=env.card[:6])) == 2
    soon = datetime.now(UTC) + timedelta(minutes=1)
    assert ledger.list_operations(partner_id=env.shop, start_at=soon) == []
    assert len(ledger.list_operations(partner_id=env.shop, end_at=soon)) == 2
    assert ledger.list_operations(partner_id=env.shop, status=rules.OP_VOIDED) == []
    assert len(ledger.list_operations(partner_id=env.shop, reimbursement_requested=False)) == 2


def test_a_partner_adds_an_internal_reference_to_its_own_operations_only(env):
    op = sell(env, 100)
    view = env.ledger.set_internal_reference(op, env.shop, "  Facture 2024-17 ")
    assert view.internal_reference == "Facture 2024-17"
    assert env.ledger.list_operations(search="facture")[0].id == op
    with pytest.raises(NotFound):
        env.ledger.set_internal_reference(op, "another-partner", "x")
    assert env.ledger.get_operation(op, partner_id="another-partner") is None
    assert env.ledger.get_operation(op, partner_id=env.shop).internal_reference


def test_loading_a_pot_and_reading_balances(env):
    assert env.ledger.load_pot(env.card, "books", 1_000) == 6_000
    assert env.ledger.balances(env.card) == [PotView("books", 6_000, 600)]
    with pytest.raises(NotFound):
        env.ledger.load_pot(env.card, "sport", 1_000)
    with pytest.raises(ValueError):
        env.ledger.load_pot(env.card, "books", -5)


def test_a_blocked_card_can_be_unblocked(env):
    env.ledger.set_beneficiary_blocked(env.card, True)
    result = env.ledger.debit(DebitRequest("b1", env.shop, env.card, 100, "books",
                                           datetime.now(UTC)))
    assert result.code == "beneficiary_blocked"
    env.ledger.set_beneficiary_blocked(env.card, False)
    assert sell(env, 100)


def test_agreements_follow_their_life_cycle(env):
    agreement = env.ledger.create_agreement(env.shop, env.program, "sport", 2024)
    with pytest.raises(ValueError):
        env.ledger.set_agreement_status(agreement, rules.SIGNED)
    env.ledger.set_agreement_status(agreement, rules.ACCEPTED)
    env.ledger.set_agreement_status(agreement, rules.SIGNED)
    [row] = [a for a in env.ledger.agreements(env.shop) if a["id"] == agreement]
    assert row["status"] == rules.SIGNED and row["signed_at"] is not None


def test_codes_that_a_terminal_could_not_read_are_refused(env):
    bad_card = env.card[:-1] + str((int(env.card[-1]) + 1) % 10)
    good_voucher = make_voucher("2DZHB6P2")
    bad_voucher = good_voucher[:-1] + ("0" if good_voucher[-1] != "0" else "1")
    with pytest.raises(ValueError):
        env.ledger.create_beneficiary(env.program, bad_card, [])
    with pytest.raises(ValueError):
        env.ledger.create_voucher(env.program, bad_voucher, "books", 900, 2024)


def test_a_database_that_cannot_be_reached_makes_the_ledger_unavailable(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/missing/dir/ledger.db")
    ledger = ReferenceLedger(make_session_factory(engine))
    with pytest.raises(LedgerUnavailable):
        ledger.debit(DebitRequest("k", "shop", "973100000420", 100, None, datetime.now(UTC)))


def test_a_terminal_gets_each_category_cap_of_its_partner_programs(env):
    from fleet_server.service_layer.device_config import partner_categories

    ledger = env.ledger
    ledger.create_agreement(env.shop, env.program, "culture", 2024, rules.SIGNED)
    ledger.create_agreement(env.shop, env.program, "sport", 2024, rules.SIGNED)
    card = make_card("".join(secrets.choice("0123456789") for _ in range(11)))
    # A special culture pot (no cap) beside a capped one: the terminal must not bound culture.
    ledger.create_beneficiary(env.program, card, [PotView("books", 1_000, 600),
                                                   PotView("culture", 1_000, 2_000),
                                                   PotView("sport", 1_000, 2_500)])
    special = make_card("".join(secrets.choice("0123456789") for _ in range(11)))
    ledger.create_beneficiary(env.program, special, [PotView("culture", 1_000, None)])
    assert ledger.category_caps([env.program]) == {"books": 600, "culture": None, "sport": 2_500}
    categories, _amax = partner_categories(ledger, env.shop)
    caps = [(c["c"], c.get("cap")) for c in categories]  # labels aside
    assert caps == [("books", 600), ("culture", None), ("sport", 2_500)]
