from datetime import UTC, datetime, timedelta

import pytest

from fleet_server.domain.devices import Device, DeviceStateError
from fleet_server.domain.partners import Partner

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def device(**kw):
    return Device("CT4F7KQ2MZ1", "esp32-gm65", "0000A00100000001", **kw)


def test_a_terminal_goes_from_provisioned_to_active_through_a_partner():
    d = device()
    assert d.refusal() == "device_inactive"
    with pytest.raises(DeviceStateError):
        d.activate()
    d.assign("P1")
    assert d.refusal() == "device_inactive"
    d.activate()
    assert d.refusal() is None
    d.suspend()
    assert d.refusal() == "device_inactive"
    d.resume()
    assert d.refusal() is None


def test_a_retired_terminal_stays_retired():
    d = device()
    d.retire()
    for action in (d.activate, d.resume, d.suspend, lambda: d.assign("P1")):
        with pytest.raises(DeviceStateError):
            action()


def test_the_previous_key_is_accepted_only_during_its_grace_period():
    d = device(previous_key_id="0000A00100000009", previous_key_until=NOW + timedelta(days=1))
    assert d.accepts_key_id("0000A00100000001", NOW)
    assert d.accepts_key_id("0000A00100000009", NOW)
    assert not d.accepts_key_id("0000A00100000009", NOW + timedelta(days=2))
    assert not d.accepts_key_id("0000A001000000FF", NOW)


def test_the_highest_counter_only_grows():
    d = device()
    d.accept_seq(9)
    d.accept_seq(4)
    assert d.highest_seq == 9


def test_deals_only_and_suspended_partners_cannot_take_payments():
    assert Partner("P", "x").refusal() is None
    assert Partner("P", "x", can_take_payments=False).refusal() == "partner_cannot_pay"
    assert Partner("P", "x", suspended=True).refusal() == "partner_cannot_pay"
