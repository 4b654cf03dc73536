"""Two fleet servers on a 3-node NATS cluster and one PostgreSQL: requests shared through the
JetStream work queue (each handled by one server, acknowledged after handling), every debit
once, and the same request handled by both servers at the same moment debited once."""

import threading
import time

import pytest
from fleet_stack import Stack
from real_parts import missing

from fleet_server.adapters.nats_cluster import NatsCluster, find_nats_server
from fleet_server.service_layer import money_requests

pytestmark = [pytest.mark.postgres]


@pytest.fixture(scope="module")
def nats_cluster(tmp_path_factory):
    binary = find_nats_server()
    if not binary:
        missing("nats-server (apt-get install nats-server)")
    cluster = NatsCluster(binary, tmp_path_factory.mktemp("nats"))
    cluster.start()
    yield cluster
    cluster.stop()


def _stack(cluster, db_url, node: int) -> Stack:
    # Each server lists the nodes starting with its own, as two hosts would.
    urls = cluster.mqtt_urls[node:] + cluster.mqtt_urls[:node]
    nats = cluster.nats_urls[node:] + cluster.nats_urls[:node]
    stack = Stack(",".join(urls), db_url, nats_url=",".join(nats)).start()
    assert stack.fleet.nats_inbox.ready.wait(20)
    return stack


def test_two_servers_share_requests_through_the_work_queue(nats_cluster, fresh_postgres_url):
    a = _stack(nats_cluster, fresh_postgres_url, 0)
    b = _stack(nats_cluster, fresh_postgres_url, 1)
    terminals = []
    try:
        a.setup_program()
        b.program = a.program
        shop = a.partner("Librairie des Lilas")
        card = a.beneficiary({"books": (100_000, None)})
        a.broker_url = nats_cluster.mqtt_urls[2]  # terminals connect to the third node
        terminals = [a.terminal(shop) for _ in range(4)]
        for _ in range(5):
            for t in terminals:
                _, result = t.sale(card, 100, "books")
                assert result["st"] == "approved"
        assert len(a.ledger.list_operations(partner_id=shop)) == 20
        got = [s.fleet.nats_inbox.received for s in (a, b)]
        assert all(got) and sum(got) >= 20, got

        # A retransmission: the same bytes again, answered with the same result, no debit.
        pending, first = terminals[0].sale(card, 100, "books")
        terminals[0].send(pending)
        again = terminals[0].await_result(pending)
        assert again["auth"] == first["auth"]
        assert len(a.ledger.list_operations(partner_id=shop)) == 21
    finally:
        for t in terminals:
            t.close()
        a.stop()
        b.stop()


def test_the_same_request_handled_by_two_servers_at_once_moves_money_once(
        nats_cluster, fresh_postgres_url):
    # No broker in between: both servers' request handlers get the same new request at the
    # same moment (a redelivery racing the terminal's retransmission), on one PostgreSQL.
    a = _stack(nats_cluster, fresh_postgres_url, 0)
    b = _stack(nats_cluster, fresh_postgres_url, 1)
    try:
        a.setup_program()
        shop = a.partner("Librairie des Lilas")
        card = a.beneficiary({"books": (10_000, None)})
        a.broker_url = nats_cluster.mqtt_urls[2]
        term = a.terminal(shop)
        term.close()
        for _ in range(10):
            pending = term.wire.debit(card, 100, "books")
            replies = _at_once(pending, [s.fleet.dispatcher.requests for s in (a, b)])
            results = [term.wire.read_result(pending, r.payload) for r in replies]
            assert [r["st"] for r in results] == ["approved", "approved"]
            assert results[0]["auth"] == results[1]["auth"]
        assert len(a.ledger.list_operations(partner_id=shop)) == 10
        assert [p.balance_cents for p in a.ledger.balances(card)] == [10_000 - 10 * 100]
    finally:
        a.stop()
        b.stop()


def _at_once(pending, contexts) -> list:
    barrier = threading.Barrier(len(contexts))
    replies = [None] * len(contexts)

    def run(i, ctx):
        barrier.wait()
        replies[i] = money_requests.handle(pending.topic, pending.payload, ctx)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(contexts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    return replies


def test_the_bus_moves_to_another_node_when_its_node_dies(tmp_path):
    binary = find_nats_server()
    if not binary:
        missing("nats-server (apt-get install nats-server)")
    from fleet_server.adapters.mqtt_bus import MqttBus

    cluster = NatsCluster(binary, tmp_path / "nats")
    cluster.start()
    bus = MqttBus(cluster.broker_url, lambda _t, _p: [], client_id="fleet-rotation")
    try:
        bus.start()
        assert bus.connected.wait(10)
        # Usually the first node; a cold cluster may refuse the first attempt (it is making
        # the connections' sessions), and the bus then starts on the next one.
        dead = bus.port
        next(n for n in cluster.nodes if n.mqtt_port == dead).kill()
        # A surviving node accepts the session once its JetStream has a leader again; the
        # connections that carry replies (one per node) move off the dead node too.
        links = [bus.link, *bus.publishers]
        deadline = time.monotonic() + 60
        while not all(link.connected.is_set() and link.port != dead for link in links):
            assert time.monotonic() < deadline, "a connection stayed on the dead node"
            time.sleep(0.1)
    finally:
        bus.stop()
        cluster.stop()
