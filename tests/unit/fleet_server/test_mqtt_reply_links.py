"""Which connection a reply goes out on (MqttBus.least_busy / publish), with stand-in links:
connected before not, a link whose publishes are being acknowledged before a held one, then
the fewest unacknowledged; retained messages always on the main connection."""

import threading

from fleet_server.adapters.mqtt_bus import HELD_S, MqttBus


class FakeLink:
    def __init__(self, name, connected=True, unacked=0, waiting=0.0):
        self.name, self.unacked, self.waiting = name, unacked, waiting
        self.connected = threading.Event()
        if connected:
            self.connected.set()
        self.sent = []

    def waiting_s(self, _now):
        return self.waiting

    def publish(self, topic, payload, qos, retain):
        self.sent.append((topic, retain))


def _bus(main, *publishers):
    bus = MqttBus("mqtt://127.0.0.1:1,mqtt://127.0.0.1:2", lambda _t, _p: [])
    bus.link, bus.publishers = main, list(publishers)
    return bus


def test_idle_links_keep_the_main_one():
    assert _bus(FakeLink("main"), FakeLink("p1")).least_busy().name == "main"


def test_the_fewest_unacknowledged_among_the_flowing_ones():
    bus = _bus(FakeLink("main", unacked=3), FakeLink("p1", unacked=1), FakeLink("p2", unacked=2))
    assert bus.least_busy().name == "p1"


def test_a_held_link_is_passed_even_with_fewer_unacknowledged():
    held = FakeLink("main", unacked=1, waiting=HELD_S + 0.1)
    assert _bus(held, FakeLink("p1", unacked=5, waiting=0.01)).least_busy().name == "p1"


def test_a_disconnected_link_is_passed():
    bus = _bus(FakeLink("main", connected=False), FakeLink("p1", unacked=9))
    assert bus.least_busy().name == "p1"


def test_all_held_the_least_held():
    bus = _bus(FakeLink("main", waiting=3.0), FakeLink("p1", waiting=1.0),
               FakeLink("p2", connected=False))
    assert bus.least_busy().name == "p1"


def test_retained_messages_stay_on_the_main_connection():
    main, other = FakeLink("main", unacked=50), FakeLink("p1")
    bus = _bus(main, other)
    bus.publish("t/x/config", b"v1", 1, True)
    bus.publish("t/x/debit/res", b"r", 1, False)
    assert main.sent == [("t/x/config", True)] and other.sent == [("t/x/debit/res", False)]
