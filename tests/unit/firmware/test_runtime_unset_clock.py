"""A board boots at 2000-01-01 until NTP answers: the real Runtime (CPython, unix_sim drivers)
must still come online, and refuse a sale at once without spending a DUKPT counter."""

from terminal.boards import build_drivers, load
from terminal.journal import Journal
from terminal.keys import KeyVault, provision
from terminal.ringlog import RingLog
from terminal.runtime import Runtime

from protocol import messages, tokens

BOARD_EPOCH_2000 = 946684800 + 30
DEV = tokens.make_device_id("ABCDEFGH")


class WiredBroker:
    """Just what the Runtime calls on its MQTT client."""

    def __init__(self):
        self.published = []
        self.on_connect = self.on_disconnect = self.on_message = None

    def subscribe(self, name, qos):
        pass

    def publish(self, topic, payload, qos, retain=False):
        self.published.append((topic, payload))

    def service(self):
        pass


def test_an_unset_clock_still_connects_and_refuses_a_sale_without_spending_a_counter(tmp_path):
    root = str(tmp_path)
    provision(root, DEV, "0000A00100000001", "11" * 16, "22" * 32)
    vault = KeyVault(root)
    drivers = build_drivers(load("unix_sim"), {})
    shown = []
    drivers["display"] = type("Screen", (), {"show": lambda self, lines: shown.append(lines)})()
    broker, ticks = WiredBroker(), [0]
    config = {"partner": "Librairie", "cats": [], "amax": 30000, "hb": 60}
    runtime = Runtime(drivers, vault, Journal(root), RingLog(root), broker,
                      lambda: ticks[0], lambda a, b: a - b, lambda: BOARD_EPOCH_2000,
                      config=config)
    runtime.start()
    broker.on_connect()  # raised before: the status timestamp was out of range
    status = messages.parse(broker.published[0][1], "status")
    assert status["st"] == "online" and status["ts"] == messages.TS_MIN
    counter_before = vault.counter_left()

    card = tokens.make_card("97310000005")
    drivers["sim_uart"].scan(card)
    for key in " 500AA":  # the scan first, then amount 5,00 EUR, validate, confirm
        drivers["keypad"].press(key.strip())
        for _ in range(10):
            ticks[0] += 100
            runtime.step()
    screen = " ".join(shown[-1])
    assert "Horloge a regler" in screen
    assert vault.counter_left() == counter_before  # no counter spent, nothing journaled
    assert Journal(root).get() is None
    assert [t for t, _ in broker.published if t.endswith("/debit_req")] == []
