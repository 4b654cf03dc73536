from datetime import UTC, datetime, timedelta

import pytest
from fleet_fakes import FakeLedger, FakeRequestStore, FakeUnitOfWork

from fleet_server.domain.devices import Device
from fleet_server.domain.partners import Partner
from fleet_server.ledger.port import DECLINED, LedgerResult
from fleet_server.service_layer import money_requests
from fleet_server.service_layer.keys import KeyStore
from protocol import auth, messages, tokens
from protocol.errors import ProtocolError
from simulator.wire_terminal import WireTerminal

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
VOUCHER = tokens.make_voucher("2DZHB6PQ")
DEV = tokens.make_device_id("4F7KQ2MZ")


class World:
    def __init__(self):
        self.keys = KeyStore("unit-test-master-secret", "0000A001")
        self.uow = FakeUnitOfWork()
        self.ledger = FakeLedger()
        self.now = NOW
        kid = self.keys.initial_key_id(1)
        self.device = Device(DEV, "esp32-gm65", kid, state="active", partner_id="P1")
        self.uow.devices_store[DEV] = self.device
        self.uow.partners_store["P1"] = Partner("P1", "Librairie des Écoles")
        self.terminal = WireTerminal(DEV, kid, self.keys.initial_key(kid),
                                     clock=lambda: self.now.timestamp())
        self.ctx = money_requests.RequestContext(FakeRequestStore(self.uow), self.ledger,
                                                 self.keys, lambda: self.now)

    def send(self, pending, topic=None, payload=None):
        return money_requests.handle(topic or pending.topic, payload or pending.payload,
                                     self.ctx)

    def result(self, pending, reply):
        assert reply.topic == pending.result_topic
        return WireTerminal.read_result(pending, reply.payload)


@pytest.fixture
def world():
    return World()


def test_an_approved_debit_is_forwarded_once_and_answered_with_a_verified_result(world):
    sale = world.terminal.debit(VOUCHER, 1500, "books")
    result = world.result(sale, world.send(sale))
    assert result["st"] == "approved" and result["amt"] == 1500 and result["op"]
    (kind, request), = world.ledger.calls
    kid = world.device.initial_key_id
    assert kind == "debit" and request.idempotency_key == f"{DEV}:{kid}:{sale.seq}"
    assert request.partner_id == "P1" and request.token == VOUCHER


def test_a_retransmission_gets_the_stored_bytes_and_never_reaches_the_ledger(world):
    sale = world.terminal.debit(VOUCHER, 1500)
    first = world.send(sale)
    world.now += timedelta(hours=2)  # long outage: the window does not apply to retransmissions
    for _ in range(4):
        assert world.send(sale).payload == first.payload
    assert len(world.ledger.calls) == 1


def test_an_older_counter_never_answered_is_a_replay(world):
    old = world.terminal.debit(VOUCHER, 100)
    new = world.terminal.debit(VOUCHER, 200)
    world.send(new)
    result = world.result(old, world.send(old))
    assert (result["st"], result["code"]) == ("error", "replay")
    assert len(world.ledger.calls) == 1


def test_a_tampered_request_gets_no_answer_and_stores_nothing(world):
    sale = world.terminal.debit(VOUCHER, 1500)
    forged = sale.payload.replace(b'"amt":1500', b'"amt":9500')
    assert world.send(sale, payload=forged) is None  # no MACed result for a forgery
    assert not world.ledger.calls and not world.uow.requests_store
    assert world.result(sale, world.send(sale))["st"] == "approved"


@pytest.mark.parametrize("shift,code", [(-301, "ts_out_of_window"), (121, "ts_out_of_window")])
def test_a_new_request_outside_the_time_window_is_refused(world, shift, code):
    world.now += timedelta(seconds=shift)
    sale = world.terminal.debit(VOUCHER, 1500)
    world.now = NOW
    world.terminal.clock = lambda: world.now.timestamp()
    assert world.result(sale, world.send(sale))["code"] == code


@pytest.mark.parametrize("state,code", [("suspended", "device_inactive"),
                                        ("retired", "device_retired"),
                                        ("provisioned", "device_inactive")])
def test_only_active_terminals_move_money(world, state, code):
    world.device.state = state
    sale = world.terminal.debit(VOUCHER, 1500)
    assert world.result(sale, world.send(sale))["code"] == code
    assert not world.ledger.calls


def test_a_deals_only_partner_cannot_take_payments(world):
    world.uow.partners_store["P1"].can_take_payments = False
    sale = world.terminal.debit(VOUCHER, 1500)
    result = world.result(sale, world.send(sale))
    assert (result["st"], result["code"]) == ("declined", "partner_cannot_pay")


def test_ledger_declines_reach_the_terminal_with_their_code(world):
    world.ledger.next_result = LedgerResult(status=DECLINED, code="insufficient_balance")
    sale = world.terminal.debit(VOUCHER, 1500)
    result = world.result(sale, world.send(sale))
    assert (result["st"], result["code"]) == ("declined", "insufficient_balance")


def test_a_ledger_outage_is_retried_with_the_same_key_on_retransmission(world):
    world.ledger.unavailable = True
    sale = world.terminal.debit(VOUCHER, 1500)
    assert world.result(sale, world.send(sale))["code"] == "service_unavailable"
    world.ledger.unavailable = False
    world.now += timedelta(minutes=30)
    assert world.result(sale, world.send(sale))["st"] == "approved"
    keys = {request.idempotency_key for _, request in world.ledger.calls}
    assert keys == {f"{DEV}:{world.device.initial_key_id}:{sale.seq}"}
    assert len(world.ledger.calls) == 2


def test_void_cancels_the_sale_named_by_its_counter(world):
    sale = world.terminal.debit(VOUCHER, 1500)
    op = world.result(sale, world.send(sale))["op"]
    cancel = world.terminal.void(sale.seq)
    result = world.result(cancel, world.send(cancel))
    assert result["st"] == "approved" and result["oseq"] == sale.seq
    assert world.ledger.calls[-1][1].operation_id == op


def test_void_of_an_unknown_sale_is_declined(world):
    cancel = world.terminal.void(42)
    assert world.result(cancel, world.send(cancel))["code"] == "void_unknown"


def test_an_unknown_device_gets_no_answer(world):
    del world.uow.devices_store[DEV]
    sale = world.terminal.debit(VOUCHER, 1500)
    assert world.send(sale) is None


def test_a_message_naming_another_device_than_its_topic_gets_no_answer(world):
    sale = world.terminal.debit(VOUCHER, 1500)
    other = tokens.make_device_id("00000000")
    assert world.send(sale, topic=f"t/{other}/debit/req") is None
    assert not world.ledger.calls


@pytest.mark.parametrize("payload", [b"", b"{", b"\xff" * 10, b"[]", b'{"t":"debit_req"}',
                                     b"x" * 100_000])
def test_garbage_gets_no_answer_and_raises_nothing(world, payload):
    assert money_requests.handle(f"t/{DEV}/debit/req", payload, world.ctx) is None


def test_a_malformed_request_gets_no_answer(world):
    sale = world.terminal.debit(VOUCHER, 1500)
    broken = sale.payload.replace(b'"amt":1500', b'"amt":-5')
    assert world.send(sale, payload=broken) is None


def test_a_forged_request_for_the_next_counter_yields_nothing_to_inject(world):
    # The MAC oracle: a forged request for the terminal's next counter used to be answered
    # with an error MACed under that counter's result key; kept, it passed for the answer to
    # the real sale. Now the forgery gets no answer, and even a result MACed with the right
    # key for another request with that counter is refused by the terminal.
    sale = world.terminal.debit(VOUCHER, 1500)
    forged = sale.payload.replace(b'"amt":1500', b'"amt":1')
    assert world.send(sale, payload=forged) is None
    result_key = world.keys.result_mac_key(world.device.initial_key_id, sale.seq)
    decoy = messages.build("debit_res", {"dev": DEV, "seq": sale.seq, "ts": 1790000000,
                                         "st": "error", "code": "bad_mac", "amt": 0,
                                         "rq": "0" * 32})
    with pytest.raises(ProtocolError):
        WireTerminal.read_result(sale, auth.seal(decoy, result_key))
    assert world.result(sale, world.send(sale))["st"] == "approved"


def test_results_are_macd_with_the_result_key_not_the_request_key(world):
    sale = world.terminal.debit(VOUCHER, 1500)
    reply = world.send(sale)
    message = messages.parse(reply.payload)
    request_key = world.keys.request_mac_key(world.device.initial_key_id, sale.seq)
    with pytest.raises(ProtocolError):
        auth.verify(message, request_key)


def test_a_ledger_value_the_protocol_cannot_carry_is_left_out_not_fatal(world):
    world.ledger.next_result = LedgerResult(status="approved", amount_cents=100,
                                            balance_cents=10**12, operation_id="OP/with/slash")
    sale = world.terminal.debit(VOUCHER, 100)
    result = world.result(sale, world.send(sale))
    assert result["st"] == "approved" and "bal" not in result and "op" not in result
