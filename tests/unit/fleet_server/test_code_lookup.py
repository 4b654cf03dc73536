"""Code lookups: a terminal asks what a voucher is worth before the amount is typed."""

import logging
from datetime import UTC, datetime

import pytest
from fleet_fakes import FakeRequestStore, FakeUnitOfWork

from fleet_server.domain.devices import Device
from fleet_server.domain.partners import Partner
from fleet_server.ledger.port import CodeInfo, Ledger, LedgerUnavailable
from fleet_server.service_layer import code_lookup
from fleet_server.service_layer.dispatch import Dispatcher
from fleet_server.service_layer.keys import KeyStore
from protocol import auth, messages, tokens, topics

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
VOUCHER = tokens.make_voucher("2DZHB6PQ")
DEV = tokens.make_device_id("4F7KQ2MZ")
OTHER = tokens.make_device_id("00000000")


class LookupLedger(Ledger):
    def __init__(self):
        self.info = CodeInfo(None, 30000, "driving")
        self.fault = None
        self.calls = []

    def debit(self, request):
        raise AssertionError("a lookup never debits")

    def void(self, request):
        raise AssertionError("a lookup never voids")

    def lookup(self, partner_id, token):
        self.calls.append((partner_id, token))
        if self.fault:
            raise self.fault
        return self.info


class World:
    def __init__(self):
        self.keys = KeyStore("unit-test-master-secret", "0000A001")
        self.uow = FakeUnitOfWork()
        self.ledger = LookupLedger()
        kid = self.keys.initial_key_id(1)
        self.device = Device(DEV, "esp32-gm65", kid, state="active", partner_id="P1")
        self.uow.devices_store[DEV] = self.device
        self.uow.partners_store["P1"] = Partner("P1", "Auto-école du Centre")
        self.ctx = code_lookup.LookupContext(FakeRequestStore(self.uow).load, self.ledger,
                                             self.keys, lambda: NOW)

    def request(self, tok=VOUCHER, ts=None, dev=DEV, key=None, nonce="9f3a61c0e2b74d58"):
        message = messages.build("code_req", {"dev": dev, "ts": ts or int(NOW.timestamp()),
                                              "id": nonce, "tok": tok})
        payload = auth.seal(message, key or self.keys.command_key(DEV, 1))
        return message, payload

    def ask(self, message, payload, topic=None):
        return code_lookup.handle(topic or topics.topic(DEV, "code_req"), payload, self.ctx)

    def answer(self, message, payload, key=None):
        (topic, body, qos, retain), = self.ask(message, payload)
        assert topic == topics.topic(DEV, "code_res") and qos == 1 and not retain
        answer = messages.parse(body, "code_res")
        auth.verify_result(answer, key or self.keys.command_key(DEV, 1), message["mac"])
        assert answer["id"] == message["id"] and answer["tok"] == message["tok"]
        return answer


@pytest.fixture
def world():
    return World()


def test_a_usable_voucher_is_answered_with_its_value_and_category(world):
    answer = world.answer(*world.request())
    assert "code" not in answer and answer["amt"] == 30000 and answer["cat"] == "driving"
    assert world.ledger.calls == [("P1", VOUCHER)]


def test_a_used_or_unknown_code_is_answered_with_its_decline_code(world):
    world.ledger.info = CodeInfo("voucher_used", 30000, "driving")
    assert world.answer(*world.request())["code"] == "voucher_used"
    world.ledger.info = CodeInfo("unknown_code")
    answer = world.answer(*world.request())
    assert answer["code"] == "unknown_code" and answer["amt"] == 0 and "cat" not in answer


def test_a_card_or_a_misread_code_never_reaches_the_ledger(world):
    card = tokens.make_card("12345678901")
    assert world.answer(*world.request(tok=card))["code"] == "unknown_code"
    assert world.answer(*world.request(tok=VOUCHER[:-1] + "0"))["code"] == "code_unreadable"
    assert world.ledger.calls == []


def test_a_bad_mac_gets_no_answer_and_never_reaches_the_ledger(world, caplog):
    message, payload = world.request(key=bytes(32))
    with caplog.at_level(logging.WARNING, "fleet.codes"):
        assert world.ask(message, payload) == []
    assert "bad MAC" in caplog.text and world.ledger.calls == []


def test_a_stale_request_is_answered_with_the_clock_refusal(world):
    answer = world.answer(*world.request(ts=int(NOW.timestamp()) - 3600))
    assert answer["code"] == "ts_out_of_window" and world.ledger.calls == []


def test_another_devices_topic_or_an_unknown_device_gets_no_answer(world, caplog):
    message, payload = world.request()
    with caplog.at_level(logging.WARNING, "fleet.codes"):
        assert world.ask(message, payload, topics.topic(OTHER, "code_req")) == []
        assert "naming" in caplog.text
        message, payload = world.request(dev=OTHER)
        assert world.ask(message, payload, topics.topic(OTHER, "code_req")) == []
        assert "unknown device" in caplog.text
    assert world.ledger.calls == []


def test_an_inactive_device_or_a_partner_that_cannot_pay_is_told_so(world):
    world.device.state = "suspended"
    assert world.answer(*world.request())["code"] == "device_inactive"
    world.device.state = "active"
    world.uow.partners_store["P1"] = Partner("P1", "Auto-école", can_take_payments=False)
    assert world.answer(*world.request())["code"] == "partner_cannot_pay"
    assert world.ledger.calls == []


def test_a_ledger_down_or_failing_is_an_answer_not_a_crash(world):
    world.ledger.fault = LedgerUnavailable("down")
    assert world.answer(*world.request())["code"] == "service_unavailable"
    world.ledger.fault = RuntimeError("bug")
    assert world.answer(*world.request())["code"] == "internal_error"
    world.ledger.fault, world.ledger.info = None, CodeInfo("no_such_code_at_all", -5, "x" * 40)
    answer = world.answer(*world.request())  # what the protocol cannot carry is left out
    assert answer["code"] == "internal_error" and answer["amt"] == 0 and "cat" not in answer


def test_the_next_command_key_is_taken_while_a_rekey_awaits_its_confirmation(world):
    next_key = world.keys.command_key(DEV, 2)
    message, payload = world.request(key=next_key)
    assert world.ask(message, payload) == []
    world.device.pending_key_id = world.keys.initial_key_id(2)
    assert "code" not in world.answer(message, payload, key=next_key)


@pytest.mark.parametrize("payload", [b"", b"{", b"\xff" * 10, b'{"t":"code_req","v":1}',
                                     b"[" * 5000])
def test_malformed_payloads_get_no_answer(world, payload):
    assert world.ask({}, payload) == []


def test_the_dispatcher_routes_lookups_and_ignores_them_without_a_handler(world):
    message, payload = world.request()
    topic = topics.topic(DEV, "code_req")
    bare = Dispatcher(requests=None, status=None)
    assert bare(topic, payload) == []  # an older wiring: the terminal falls back to typing
    bare.codes = lambda t, p: code_lookup.handle(t, p, world.ctx)
    [(out_topic, _body, _qos, _retain)] = bare(topic, payload)
    assert out_topic == topics.topic(DEV, "code_res")


def test_brokers_let_a_device_ask_and_hear_about_codes_on_its_own_tree_only():
    from fleet_server.adapters.broker_security import device_allowed, render_acl

    own_req, own_res = topics.topic(DEV, "code_req"), topics.topic(DEV, "code_res")
    assert device_allowed(DEV, own_req, "publish") and device_allowed(DEV, own_res, "subscribe")
    assert not device_allowed(DEV, own_res, "publish")  # answers come from the server only
    assert not device_allowed(DEV, own_req, "subscribe")
    assert not device_allowed(DEV, topics.topic(OTHER, "code_req"), "publish")
    assert not device_allowed(DEV, topics.topic(OTHER, "code_res"), "subscribe")
    acl = render_acl()
    assert "pattern write t/%u/code/req" in acl and "pattern read t/%u/code/res" in acl
    assert "$share/fleet/t/+/code/req" in topics.server_filters(shared=True)
