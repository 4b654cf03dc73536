"""End to end: terminals debit through the project's Mosquitto, the fleet server and the
reference ledger, on SQLite and PostgreSQL, with protocol-level test terminals."""

import threading
import time

import paho.mqtt.client as mqtt
import pytest
from fleet_stack import Stack

from fleet_server.reference_ledger.reference import PotView
from protocol import tokens

pytestmark = pytest.mark.broker


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/fleet.sqlite3"
    return request.getfixturevalue("fresh_postgres_url")


@pytest.fixture
def stack(mosquitto, db_url):
    stack = Stack(mosquitto.url, db_url).start()
    stack.setup_program()
    yield stack
    stack.stop()


def test_sales_approve_decline_and_cancel_end_to_end(stack):
    bookshop = stack.partner("Librairie des Écoles", categories=("books",))
    card = stack.beneficiary({"books": (2000, 600), "sport": (5000, None)})
    terminal = stack.terminal(bookshop)
    try:
        sale, result = terminal.sale(card, 500, "books")
        assert (result["st"], result["amt"], result["bal"]) == ("approved", 500, 1500)
        assert result["auth"] and result["op"]
        assert terminal.sale(card, 700, "books")[1]["code"] == "over_purchase_cap"
        assert terminal.sale(card, 500, "sport")[1]["code"] == "not_in_agreement"
        assert terminal.sale(stack.voucher("books", 1000), 1000)[1]["st"] == "approved"
        voucher = stack.voucher("books", 1000)
        terminal.sale(voucher, 1000)
        assert terminal.sale(voucher, 1000)[1]["code"] == "voucher_used"
        never_issued = tokens.make_voucher("77777777")
        assert terminal.sale(never_issued, 100)[1]["code"] == "unknown_code"
        cancelled = terminal.cancel(sale.seq)
        assert (cancelled["st"], cancelled["oseq"]) == ("approved", sale.seq)
        assert stack.ledger.balances(card)[0].balance_cents == 2000
        assert terminal.cancel(sale.seq)["code"] == "already_voided"
    finally:
        terminal.close()


def test_a_deals_only_partner_and_an_inactive_terminal_are_refused(stack):
    deals = stack.partner("Bons plans", can_pay=False)
    bookshop = stack.partner("Librairie du Port")
    card = stack.beneficiary({"books": (2000, None)})
    deals_terminal = stack.terminal(deals)
    idle_terminal = stack.terminal(bookshop, state="assigned")
    try:
        assert deals_terminal.sale(card, 100, "books")[1]["code"] == "partner_cannot_pay"
        assert idle_terminal.sale(card, 100, "books")[1]["code"] == "device_inactive"
    finally:
        deals_terminal.close()
        idle_terminal.close()


def test_the_same_debit_sent_five_times_across_a_server_restart_debits_once(stack):
    bookshop = stack.partner("Librairie Centrale")
    card = stack.beneficiary({"books": (5000, None)})
    terminal = stack.terminal(bookshop)
    try:
        pending = terminal.wire.debit(card, 1200, "books")
        terminal.send(pending)
        first = terminal.await_result(pending)
        terminal.send(pending)
        terminal.send(pending)
        stack.restart()
        terminal.send(pending)
        terminal.send(pending)
        answers = [terminal.await_result(pending) for _ in range(4)]
        assert all(a == first for a in answers)
        assert stack.ledger.balances(card)[0].balance_cents == 5000 - 1200
    finally:
        terminal.close()


def test_a_result_published_while_the_terminal_was_offline_reaches_it_on_reconnect(stack):
    bookshop = stack.partner("Librairie Nomade")
    card = stack.beneficiary({"books": (5000, None)})
    terminal = stack.terminal(bookshop)
    try:
        pending = terminal.wire.debit(card, 700, "books")
        terminal.send(pending)
        terminal.go_offline()
        deadline = time.monotonic() + 10
        while stack.ledger.balances(card)[0].balance_cents == 5000:
            assert time.monotonic() < deadline, "the server never handled the sale"
            time.sleep(0.05)
        terminal.come_back()
        assert terminal.await_result(pending)["st"] == "approved"
    finally:
        terminal.close()


def test_two_terminals_racing_on_one_pot_never_overdraw_it(stack):
    bookshop = stack.partner("Librairie Double")
    card = stack.beneficiary({"books": (1000, None)})
    terminals = [stack.terminal(bookshop) for _ in range(2)]
    approved = []

    def buy(terminal):
        for _ in range(5):
            _pending, result = terminal.sale(card, 300, "books")
            if result["st"] == "approved":
                approved.append(result["amt"])

    try:
        threads = [threading.Thread(target=buy, args=(t,)) for t in terminals]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sum(approved) == 900  # three sales of 3.00 fit in 10.00, never a fourth
        assert stack.ledger.balances(card) == [PotView("books", 100, None)]
    finally:
        for terminal in terminals:
            terminal.close()


def test_ten_thousand_garbage_messages_then_a_valid_debit_still_succeeds(stack, mosquitto):
    bookshop = stack.partner("Librairie Robuste")
    card = stack.beneficiary({"books": (1000, None)})
    terminal = stack.terminal(bookshop)
    flooder = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="flooder",
                          protocol=mqtt.MQTTv311)
    flooder.connect(mosquitto.host, mosquitto.port)
    flooder.loop_start()
    try:
        dev = terminal.wire.device_id
        junk = [b"", b"{", b"\xff\xfe", b"[]" * 400, b'{"t":"debit_req","v":1}', b"x" * 9000,
                b'{"t":"debit_req","v":1,"seq":5,"kid":"00"}']
        leaves = ["debit/req", "void/req", "hb", "status", "cmd/res", "upd/req"]
        for i in range(10_000):
            flooder.publish(f"t/{dev}/{leaves[i % len(leaves)]}", junk[i % len(junk)], qos=0)
        flooder.publish(f"t/{dev}/hb", b"last", qos=1).wait_for_publish(30)
        _pending, result = terminal.sale(card, 250, "books")
        assert result["st"] == "approved"
        assert stack.fleet.dispatcher.received >= 10_000
    finally:
        flooder.loop_stop()
        flooder.disconnect()
        terminal.close()
