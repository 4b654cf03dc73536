"""Allocation, claim and retirement in the service layer, on the in-memory fakes."""

from datetime import UTC, datetime, timedelta

import pytest
from fleet_fakes import FakeUnitOfWork

from fleet_server.domain.devices import LifecycleRefused
from fleet_server.domain.partners import Partner
from fleet_server.service_layer import device_lifecycle as lifecycle
from fleet_server.service_layer import registry
from fleet_server.service_layer.device_lifecycle import ClaimRefused
from fleet_server.service_layer.keys import KeyStore
from protocol import tokens

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


class Revocations(lifecycle.BrokerAccess):
    def __init__(self):
        self.revoked = []

    def revoke(self, device_id):
        self.revoked.append(device_id)


@pytest.fixture
def world():
    uow = FakeUnitOfWork()
    keys = KeyStore("unit-test-master-secret", "0000A001")
    uow.partners_store["P1"] = Partner("P1", "Librairie des Écoles")
    uow.partners_store["P2"] = Partner("P2", "Théâtre du Port")
    uow.partners_store["DEALS"] = Partner("DEALS", "Bons plans", can_take_payments=False)
    return uow, keys


def register(world, n=1):
    uow, keys = world
    return [registry.register_device(uow(), keys, "esp32-gm65", NOW) for _ in range(n)]


def signed(partner_id):  # the ledger's answer: only P1 and P2 have a signed agreement
    return None if partner_id in ("P1", "P2") else "no_signed_agreement"


def claim(world, partner, secrets, code=None, now=NOW):
    uow, keys = world
    return lifecycle.claim_device(uow(), keys, partner, secrets.device_id,
                                  code if code is not None else secrets.claim_code, now, signed)


def test_registration_returns_a_claim_code_and_stores_only_its_keyed_hash(world):
    uow, keys = world
    secrets, = register(world)
    assert tokens.parse_claim_code(tokens.format_claim_code(secrets.claim_code)) \
        == secrets.claim_code
    stored = uow.devices_store[secrets.device_id].claim_code_hash
    assert stored == keys.claim_code_hash(secrets.device_id, secrets.claim_code)
    assert secrets.claim_code not in stored and len(stored) == 64
    other = KeyStore("another-master-secret", "0000A001")
    assert other.claim_code_hash(secrets.device_id, secrets.claim_code) != stored


def test_bulk_allocation_then_claim_activates_the_terminal(world):
    uow, _keys = world
    batch = register(world, 3)
    devices = lifecycle.allocate_devices(uow(), "P1", [s.device_id for s in batch], NOW)
    assert [d.state for d in devices] == ["assigned"] * 3
    assert all(d.allocated_at == NOW and d.partner_id == "P1" for d in devices)
    # typed as printed, lower case and with the dash: still the code
    device = claim(world, "P1", batch[0], tokens.format_claim_code(batch[0].claim_code).lower())
    assert device.state == "active" and device.claimed_at == NOW


def test_double_allocation_is_refused_and_nothing_of_the_batch_moves(world):
    uow, _keys = world
    a, b = register(world, 2)
    lifecycle.allocate_devices(uow(), "P1", [a.device_id], NOW)
    with pytest.raises(LifecycleRefused) as err:
        lifecycle.allocate_devices(uow(), "P2", [b.device_id, a.device_id], NOW)
    assert err.value.code == "already_allocated" and err.value.device_id == a.device_id
    assert "partner P1" in err.value.message
    assert uow.devices_store[b.device_id].state == "provisioned"  # all or nothing
    with pytest.raises(LifecycleRefused, match="already allocated to this partner"):
        lifecycle.allocate_devices(uow(), "P1", [a.device_id], NOW)


@pytest.mark.parametrize("partner,ids,code", [
    ("NOPE", None, "partner_unknown"), ("P1", ["CT00000000X"], "device_unknown"),
    ("P1", [], "no_devices")])
def test_allocation_refusals_name_what_is_wrong(world, partner, ids, code):
    uow, _keys = world
    secrets, = register(world)
    with pytest.raises(LifecycleRefused) as err:
        lifecycle.allocate_devices(uow(), partner, [secrets.device_id] if ids is None else ids,
                                   NOW)
    assert err.value.code == code


def test_a_wrong_code_is_refused_and_counted(world):
    uow, _keys = world
    secrets, = register(world)
    lifecycle.allocate_devices(uow(), "P1", [secrets.device_id], NOW)
    wrong = tokens.make_claim_code("ABCDEFGH")
    with pytest.raises(ClaimRefused) as err:
        claim(world, "P1", secrets, wrong)
    assert (err.value.code, err.value.http_status) == ("claim_code_wrong", 403)
    assert len(uow.claim_failure_rows) == 1
    assert uow.devices_store[secrets.device_id].state == "assigned"


def test_a_typo_is_caught_by_the_check_character_and_not_counted(world):
    uow, _keys = world
    secrets, = register(world)
    typo = secrets.claim_code[:3] + ("X" if secrets.claim_code[3] != "X" else "Y") \
        + secrets.claim_code[4:]
    with pytest.raises(ClaimRefused) as err:
        claim(world, "P1", secrets, typo)
    assert (err.value.code, err.value.http_status) == ("claim_code_malformed", 422)
    assert not uow.claim_failure_rows


def test_a_used_claim_code_cannot_claim_again(world):
    uow, _keys = world
    secrets, = register(world)
    lifecycle.allocate_devices(uow(), "P1", [secrets.device_id], NOW)
    claim(world, "P1", secrets)
    for partner in ("P1", "P2"):
        with pytest.raises(ClaimRefused) as err:
            claim(world, partner, secrets)
        assert err.value.code in ("already_claimed",) and err.value.http_status == 409


def test_a_partner_without_a_signed_agreement_cannot_activate(world):
    uow, _keys = world
    secrets, = register(world)
    uow.partners_store["P3"] = Partner("P3", "Club sans convention")
    lifecycle.allocate_devices(uow(), "P3", [secrets.device_id], NOW)
    with pytest.raises(ClaimRefused) as err:
        claim(world, "P3", secrets)
    assert err.value.code == "no_signed_agreement" and "signed" in err.value.message
    assert uow.devices_store[secrets.device_id].state == "assigned"


def test_a_deals_only_partner_cannot_activate(world):
    uow, _keys = world
    secrets, = register(world)
    lifecycle.allocate_devices(uow(), "DEALS", [secrets.device_id], NOW)
    with pytest.raises(ClaimRefused) as err:
        claim(world, "DEALS", secrets)
    assert err.value.code == "partner_cannot_pay"


def test_a_terminal_allocated_to_another_partner_cannot_be_claimed(world):
    uow, _keys = world
    secrets, = register(world)
    lifecycle.allocate_devices(uow(), "P1", [secrets.device_id], NOW)
    with pytest.raises(ClaimRefused) as err:
        claim(world, "P2", secrets)
    assert err.value.code == "allocated_to_other_partner"


def test_an_unallocated_terminal_cannot_be_claimed(world):
    secrets, = register(world)
    with pytest.raises(ClaimRefused) as err:
        claim(world, "P1", secrets)
    assert err.value.code == "not_allocated" and "operator" in err.value.message


def test_failed_attempts_are_bounded_per_partner_and_window(world):
    uow, _keys = world
    secrets, = register(world)
    lifecycle.allocate_devices(uow(), "P1", [secrets.device_id], NOW)
    for i in range(lifecycle.MAX_CLAIM_FAILURES):
        with pytest.raises(ClaimRefused, match="does not match"):
            claim(world, "P1", secrets, tokens.make_claim_code(f"AAAAAA{i:02d}"))
    with pytest.raises(ClaimRefused) as err:  # even the right code, for now
        claim(world, "P1", secrets)
    assert (err.value.code, err.value.http_status) == ("claim_attempts_exceeded", 429)
    with pytest.raises(ClaimRefused) as other:  # another partner is not locked out
        claim(world, "P2", secrets, tokens.make_claim_code("AAAAAAZZ"))
    assert other.value.code == "claim_code_wrong"
    later = NOW + lifecycle.CLAIM_WINDOW + timedelta(seconds=1)
    assert claim(world, "P1", secrets, now=later).state == "active"


def test_retirement_refuses_claims_and_allocation_and_revokes_at_the_broker(world):
    uow, _keys = world
    secrets, = register(world)
    broker = Revocations()
    device, clears = lifecycle.retire_device(uow(), secrets.device_id, NOW, broker)
    assert device.state == "retired" and device.retired_at == NOW
    assert device.claim_code_hash is None and broker.revoked == [secrets.device_id]
    assert sorted(t for t, *_ in clears) == [f"t/{secrets.device_id}/config",
                                             f"t/{secrets.device_id}/status"]
    assert all(payload == b"" and retain for _t, payload, _q, retain in clears)
    for call in (lambda: lifecycle.allocate_devices(uow(), "P1", [secrets.device_id], NOW),
                 lambda: claim(world, "P1", secrets)):
        with pytest.raises(LifecycleRefused) as err:
            call()
        assert err.value.code == "device_retired"
    # retiring again is harmless: revoked and cleared again
    lifecycle.retire_device(uow(), secrets.device_id, NOW, broker)
    assert broker.revoked == [secrets.device_id] * 2


def test_unallocated_stock_is_listed_for_bulk_allocation(world):
    uow, _keys = world
    batch = register(world, 4)
    lifecycle.allocate_devices(uow(), "P1", [batch[0].device_id], NOW)
    stock = lifecycle.unallocated(uow(), 10)
    assert sorted(stock) == sorted(s.device_id for s in batch[1:])
    assert len(lifecycle.unallocated(uow(), 2)) == 2


def test_broker_access_reaches_the_configured_rules_and_the_embedded_broker(world):
    from fleet_server.adapters.embedded_broker import EmbeddedSecurity
    from fleet_server.bootstrap_lifecycle import ServerBrokerAccess

    security = EmbeddedSecurity(server_password_hash="$7$1$x$y")
    rules = Revocations()
    both = ServerBrokerAccess(rules)
    both.embedded_started(security)
    both.revoke("CT4F7KQ2MZ1")
    assert rules.revoked == ["CT4F7KQ2MZ1"] and security.revoked == {"CT4F7KQ2MZ1"}
    dev = ServerBrokerAccess(lifecycle.NoBrokerAccessControl())  # the server alone refuses
    assert [type(p) for p in dev._parts()] == [lifecycle.NoBrokerAccessControl]
