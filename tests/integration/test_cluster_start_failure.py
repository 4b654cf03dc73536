"""A cluster stack that fails to start stops what it had started: the broker nodes it ran are
not left behind (a bench run that failed used to leave three NATS nodes running)."""

import pytest
from real_parts import missing

from fleet_server.adapters.nats_cluster import find_nats_server
from simulator.cluster import ClusterFleet


def test_a_stack_whose_database_cannot_be_reached_leaves_no_node_running(tmp_path):
    if not find_nats_server():
        missing("nats-server (apt-get install nats-server)")
    stack = ClusterFleet("postgresql+psycopg://postgres@127.0.0.1:1/nowhere", workdir=tmp_path)
    with pytest.raises(Exception):  # noqa: B017 (whatever the driver raises)
        stack.start()
    assert stack.cluster.nodes and all(node.pid is None for node in stack.cluster.nodes)
    assert stack.fleet is None
