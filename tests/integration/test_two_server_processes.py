"""Two fleet servers on one broker and one database, as two processes behind a load balancer
would run: requests are shared (each handled once), every server keeps the whole live view,
and the once-only work (timeline writes, what a terminal coming online is sent, timeouts,
alerts, campaigns, settlement) is done by the lease holder, and moves when it stops."""

import pytest
from fleet_stack import Stack
from polling import eventually
from test_support_desk import CommandTerminal

from fleet_server.domain.support import ONLINE

pytestmark = [pytest.mark.broker]


def test_two_servers_share_requests_and_each_keeps_the_live_view(mosquitto,
                                                                  fresh_postgres_url):
    a = Stack(mosquitto.url, fresh_postgres_url, mqtt_shared=True, lease_ttl_s=3).start()
    b = Stack(mosquitto.url, fresh_postgres_url, mqtt_shared=True, lease_ttl_s=3).start()
    try:
        a.setup_program()
        b.program = a.program
        shop = a.partner("Librairie des Lilas")
        card = a.beneficiary({"books": (100_000, None)})
        sales = a.terminal(shop)
        eventually(lambda: a.fleet.lease.held() != b.fleet.lease.held(), what="one holder")
        holder, other = (a, b) if a.fleet.lease.held() else (b, a)

        # Requests: each handled by one server, all approved, each debited once.
        for _ in range(12):
            _, result = sales.sale(card, 100, "books")
            assert result["st"] == "approved"
        assert len(a.ledger.list_operations(partner_id=shop)) == 12
        assert a.fleet.dispatcher.received and b.fleet.dispatcher.received

        # Status and heartbeats reach both; only the holder writes the timeline.
        key = a.fleet.keys.command_key(sales.wire.device_id, 1)
        sales.close()
        board = CommandTerminal(mosquitto, sales.wire.device_id, key)
        board.heartbeat()
        for stack in (a, b):
            eventually(lambda s=stack: s.fleet.dispatcher.status.connection(
                board.dev) == ONLINE, what="online in both live views")
        for stack in (a, b):
            stack.fleet.dispatcher.status.flush()
        store = holder.fleet.support.store
        kinds = [e.kind for e in store.timeline(board.dev)]
        assert kinds.count("status") == 1, kinds

        # The holder stops: the other takes the lease over at once.
        holder.stop()
        eventually(other.fleet.lease.held, timeout=5, what="lease taken over")
        board.close()
    finally:
        for stack in (a, b):
            stack.stop()

