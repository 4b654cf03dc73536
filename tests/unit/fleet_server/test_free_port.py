"""Ports for servers started by tests and benches come from below the kernel's ephemeral range,
so no outgoing connection takes one between the choice and the server's bind, and one process
never gets the same port twice."""

import socket

from fleet_server.adapters.mosquitto import free_port


def test_ports_are_distinct_bindable_and_outside_the_ephemeral_range():
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == 50
    assert all(1024 < port < 32768 for port in ports)
    for port in ports[:5]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
