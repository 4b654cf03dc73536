"""Re-key and BDK rotation in the service layer: the command, the switch on first use, the
grace period of the old key, counters per key, and the automatic re-key near exhaustion."""

from datetime import UTC, datetime, timedelta

import pytest
from fleet_fakes import FakeLedger, FakeRequestStore, FakeUnitOfWork

from fleet_server.domain.devices import REKEY_COUNTER, Device
from fleet_server.domain.partners import Partner
from fleet_server.domain.requests import PENDING, StoredRequest
from fleet_server.service_layer import money_requests, registry, rekey
from fleet_server.service_layer.device_config import ConfigPublisher
from fleet_server.service_layer.keys import KeyStore
from protocol import auth, keywrap, messages, tokens
from simulator.wire_terminal import PendingRequest, WireTerminal

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
GRACE = timedelta(hours=72)


class World:
    def __init__(self):
        self.keys = KeyStore("unit-test-master-secret", "0000A001")
        self.uow = FakeUnitOfWork()
        self.ledger = FakeLedger()
        self.now = NOW
        self.uow.partners_store["P1"] = Partner("P1", "Librairie des Écoles")
        secrets = registry.register_device(self.uow(), self.keys, "esp32-gm65", NOW)
        self.dev = secrets.device_id
        self.device.state, self.device.partner_id = "active", "P1"
        self.old = self.terminal(secrets.initial_key_id)
        self.asked = []
        self.ctx = money_requests.RequestContext(
            FakeRequestStore(self.uow), self.ledger, self.keys, lambda: self.now,
            rekey_grace_s=int(GRACE.total_seconds()), on_rekey_needed=self.asked.append)

    @property
    def device(self) -> Device:
        return self.uow.devices_store[self.dev]

    def terminal(self, kid):
        return WireTerminal(self.dev, kid, self.keys.initial_key(kid),
                            clock=lambda: self.now.timestamp())

    def send(self, pending):
        reply = money_requests.handle(pending.topic, pending.payload, self.ctx)
        return reply, WireTerminal.read_result(pending, reply.payload)

    def rekey(self):
        device, (topic, payload, qos, retain) = rekey.start_rekey(self.uow(), self.keys,
                                                                  self.dev, self.now)
        assert (topic, qos, retain) == (f"t/{self.dev}/cmd", 1, False)
        return messages.parse(payload, "command")


@pytest.fixture
def world():
    return World()


def voucher():
    return tokens.make_voucher(tokens.random_payload32(8, __import__("os").urandom))


def test_the_rekey_command_carries_the_new_initial_key_wrapped_and_macd(world):
    old_kid = world.device.initial_key_id
    command = world.rekey()
    command_key = world.keys.command_key(world.dev, 1)
    auth.verify(command, command_key)
    assert command["name"] == "rekey" and command["exp"] > command["ts"]
    kid, ik, next_command_key = keywrap.unwrap(command_key, world.dev, command["args"])
    assert kid.upper() == world.device.pending_key_id != old_kid
    assert ik == world.keys.initial_key(kid.upper())
    assert next_command_key == world.keys.command_key(world.dev, 2)  # rotated with it
    assert world.device.initial_key_id == old_kid  # nothing switches before first use
    # the wrapped key is not readable in the command
    assert ik.hex() not in command["args"]["ik"]
    # a second re-key before the first is used sends the same key again
    world.now += timedelta(minutes=5)
    again = world.rekey()
    assert again["args"]["kid"] == command["args"]["kid"] and again["id"] != command["id"]
    assert again["args"]["n"] != command["args"]["n"]  # a fresh nonce per wrap


def test_a_new_device_never_gets_a_key_id_that_is_pending_elsewhere(world):
    world.rekey()
    other = registry.register_device(world.uow(), world.keys, "esp32-gm65", NOW)
    assert other.initial_key_id != world.device.pending_key_id


def test_a_terminal_keeps_selling_across_the_switch(world):
    first = world.old.debit(voucher(), 500)
    _reply, result = world.send(first)
    assert result["st"] == "approved"
    old_kid = world.device.initial_key_id
    new_kid = world.rekey()["args"]["kid"].upper()
    new = world.terminal(new_kid)
    sale = new.debit(voucher(), 700)
    assert sale.seq == 1  # the new key starts its counter again
    _reply, result = world.send(sale)
    assert result["st"] == "approved"
    device = world.device
    assert (device.initial_key_id, device.previous_key_id) == (new_kid, old_kid)
    assert device.previous_key_until == NOW + GRACE and device.pending_key_id is None
    assert device.highest_seq == 1 and device.previous_highest_seq == first.seq
    keys = [request.idempotency_key for _kind, request in world.ledger.calls]
    assert keys == [f"{world.dev}:{old_kid}:1", f"{world.dev}:{new_kid}:1"]
    assert device.key_version == 2  # the command key switched with the Initial Key


def command_result(world, key_version, cmd_id="rekey-1"):
    message = messages.build("command_res", {"dev": world.dev, "id": cmd_id, "ok": True,
                                             "ts": int(world.now.timestamp())})
    return auth.seal(message, world.keys.command_key(world.dev, key_version))


def test_the_terminal_s_answer_under_its_new_command_key_switches_both_keys(world):
    # The terminal installed the re-key and answered with the command key that came with it:
    # the server switches at once, so what it sends next is MACed with the key the terminal
    # holds (the holder of the old command key is out from then on).
    old_kid = world.device.initial_key_id
    world.send(world.old.debit(voucher(), 500))
    new_kid = world.rekey()["args"]["kid"].upper()
    confirm = rekey.confirmed_by_result(world.uow, world.keys, lambda: world.now,
                                        lambda: GRACE)
    topic = f"t/{world.dev}/cmd/res"
    assert confirm(topic, command_result(world, 1)) is None  # the old key proves nothing
    assert confirm(topic, b"{not json") is None
    assert world.device.pending_key_id == new_kid and world.device.key_version == 1
    assert confirm(topic, command_result(world, 2)) == world.dev
    device = world.device
    assert (device.initial_key_id, device.previous_key_id, device.key_version) == \
        (new_kid, old_kid, 2)
    assert device.previous_highest_seq == 1 and device.pending_key_id is None
    assert confirm(topic, command_result(world, 3)) is None  # nothing pending any more
    # the configuration goes out under the new command key, and no re-key command any more
    publisher = ConfigPublisher(world.ctx.store.load, world.ledger, world.keys,
                                lambda: world.now)
    (config_topic, payload, _qos, _retain), = publisher.messages_for(world.dev)
    auth.verify(messages.parse(payload, "config"), world.keys.command_key(world.dev, 2))
    # the first sale under the new key finds the switch done
    _reply, result = world.send(world.terminal(new_kid).debit(voucher(), 700))
    assert result["st"] == "approved" and world.device.key_version == 2


def test_the_replaced_key_only_retransmits_what_it_signed_before_the_switch(world):
    old_kid = world.device.initial_key_id
    first = world.old.debit(voucher(), 500)
    first_reply, _ = world.send(first)
    pending = world.old.debit(voucher(), 550)  # the ledger is down: stored, not answered
    world.ledger.unavailable = True
    assert world.send(pending)[1]["code"] == "service_unavailable"
    world.ledger.unavailable = False
    new = world.terminal(world.rekey()["args"]["kid"].upper())
    world.send(new.debit(voucher(), 700))
    assert world.device.previous_highest_seq == pending.seq  # its highest at the switch
    world.now += timedelta(seconds=60)  # within the request time window
    # retransmissions of what it signed before the switch: the stored answer, or the ledger
    # asked again under the same idempotency key
    assert world.send(first)[0].payload == first_reply.payload
    assert world.send(pending)[1]["st"] == "approved"
    calls = len(world.ledger.calls)
    # the attack: a fresh debit under the replaced key at a new counter moves no money
    fresh = world.old.debit(voucher(), 600)
    assert fresh.seq > pending.seq
    assert world.send(fresh)[1]["code"] == "key_replaced"
    assert len(world.ledger.calls) == calls
    assert world.device.previous_highest_seq == pending.seq
    # nor does a void under it
    assert world.send(world.old.void(first.seq))[1]["code"] == "key_replaced"
    # a replayed old-key counter is refused as a replay
    world.device.previous_highest_seq = fresh.seq + 5
    late = world.old.debit(voucher(), 100)
    assert world.send(late)[1]["code"] == "replay"
    # after the grace period the old key is refused
    world.now = NOW + GRACE + timedelta(seconds=1)
    stale = world.old.debit(voucher(), 100)
    assert money_requests.handle(stale.topic, stale.payload, world.ctx) is None  # no answer
    assert world.device.previous_key_id == old_kid


def test_a_sale_made_under_the_old_key_is_cancelled_under_the_new_one(world):
    sale = world.old.debit(voucher(), 500)
    world.send(sale)
    new = world.terminal(world.rekey()["args"]["kid"].upper())
    _reply, result = world.send(new.void(sale.seq))
    assert result["st"] == "approved"
    (_k, debit), (kind, void) = world.ledger.calls
    assert kind == "void" and void.operation_id == world.ledger.results[
        debit.idempotency_key].operation_id


def high_counter_sale(world, counter, kid=None):
    """A debit at a high DUKPT counter, signed as the terminal would (walking a real terminal
    up to 0xFFF00000 would take billions of steps)."""
    kid = kid or world.device.initial_key_id
    request_key, result_key = world.keys.mac_keys(kid, counter)
    message = messages.build("debit_req", {"dev": world.dev, "kid": kid.lower(), "seq": counter,
                                           "ts": int(world.now.timestamp()),
                                           "tok": voucher(), "amt": 100})
    payload = auth.seal(message, request_key)
    return PendingRequest(counter, f"t/{world.dev}/debit/req", payload, result_key,
                          f"t/{world.dev}/debit/res")


def test_a_counter_near_exhaustion_asks_for_a_rekey(world):
    below = 0xFFE00000  # 11 one-bits, just below the threshold
    assert below < REKEY_COUNTER
    assert world.send(high_counter_sale(world, below))[1]["st"] == "approved"
    assert world.asked == []
    assert world.send(high_counter_sale(world, REKEY_COUNTER))[1]["st"] == "approved"
    assert world.asked == [world.dev]
    old_kid = world.device.initial_key_id
    new_kid = world.rekey()["args"]["kid"].upper()  # pending now: not asked again
    world.send(high_counter_sale(world, REKEY_COUNTER + 1))
    assert world.asked == [world.dev]
    world.send(world.terminal(new_kid).debit(voucher(), 100))  # the switch
    # a late request of the old key, high as it is, neither moves money nor re-keys the new one
    assert world.send(high_counter_sale(world, REKEY_COUNTER + 2, old_kid))[1]["code"] \
        == "key_replaced"
    assert world.asked == [world.dev]


def test_a_pending_request_of_a_retired_terminal_is_not_asked_again(world):
    sale = world.old.debit(voucher(), 500)
    world.ledger.unavailable = True
    assert world.send(sale)[1]["code"] == "service_unavailable"
    world.ledger.unavailable = False
    world.device.retire(NOW)
    assert world.send(sale)[1]["code"] == "device_retired"
    assert len(world.ledger.calls) == 1
    stored = next(iter(world.uow.requests_store.values()))
    assert isinstance(stored, StoredRequest) and stored.status == PENDING


def test_the_bdk_rotates_for_new_terminals_only(world):
    old_kid = world.device.initial_key_id
    assert rekey.rotate_bdk(world.uow(), world.keys, "0000a002", NOW) == "0000A002"
    fresh = registry.register_device(world.uow(), world.keys, "esp32-gm65", NOW)
    assert fresh.initial_key_id.startswith("0000A002") and old_kid.startswith("0000A001")
    assert world.send(world.old.debit(voucher(), 100))[1]["st"] == "approved"
    new_kid = world.rekey()["args"]["kid"].upper()  # a re-key moves a terminal over
    assert new_kid.startswith("0000A002") and new_kid != fresh.initial_key_id
    for bad, match in (("0000A001", "used before"), ("0000A002", "used before"),
                       ("XYZ", "8 hex digits")):
        with pytest.raises(ValueError, match=match):
            rekey.rotate_bdk(world.uow(), world.keys, bad, NOW)


def test_reconnect_sends_config_and_the_pending_rekey_retired_clears_config(world):
    publisher = ConfigPublisher(FakeRequestStore(world.uow).load, world.ledger, world.keys,
                                lambda: world.now)
    out = publisher.on_status(world.dev, {"st": "online"})
    assert [t for t, *_ in out] == [f"t/{world.dev}/config"]
    world.rekey()
    out = publisher.on_status(world.dev, {"st": "online"})
    assert [t for t, *_ in out] == [f"t/{world.dev}/config", f"t/{world.dev}/cmd"]
    world.device.retire(NOW)
    assert publisher.on_status(world.dev, {"st": "online"}) == [
        (f"t/{world.dev}/config", b"", 1, True)]


def test_a_retired_terminal_is_not_rekeyed(world):
    world.device.retire(NOW)
    with pytest.raises(rekey.RekeyError, match="retired"):
        world.rekey()
