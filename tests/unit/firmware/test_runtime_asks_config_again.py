"""A terminal without its configuration says "online" again every 10 s until it gets one: the
server answers that status with the configuration, and the first answer can be lost (the
server process that had the status died before sending it, or on a broker cluster the
retained configuration crossed the terminal's SUBSCRIBE). Configured, it stays quiet."""

from terminal.boards import build_drivers, load
from terminal.journal import Journal
from terminal.keys import KeyVault, provision
from terminal.ringlog import RingLog
from terminal.runtime import Runtime
from test_runtime_unset_clock import DEV, WiredBroker

from protocol import messages

NOW = 1790000000


def _runtime(root, config):
    provision(root, DEV, "0000A00100000001", "11" * 16, "22" * 32)
    broker, ticks = WiredBroker(), [0]
    runtime = Runtime(build_drivers(load("unix_sim"), {}), KeyVault(root), Journal(root),
                      RingLog(root), broker, lambda: ticks[0], lambda a, b: a - b,
                      lambda: NOW, config=config)
    runtime.start()
    broker.on_connect()
    return runtime, broker, ticks


def _statuses(broker):
    return [messages.parse(p, "status")["st"] for t, p in broker.published
            if t.endswith("/status")]


def test_unconfigured_terminal_says_online_again_then_reconnects(tmp_path):
    runtime, broker, ticks = _runtime(str(tmp_path), None)
    drops = []
    broker._drop = lambda now, err: drops.append((now, str(err)))
    for t in range(0, 35001, 500):
        ticks[0] = t
        runtime.step()
    assert _statuses(broker) == ["online", "online", "online"]  # at 0, 10 and 20 s
    assert [d[0] for d in drops] == [30000]  # then a new connection, subscribing again


def test_configured_terminal_does_not(tmp_path):
    config = {"partner": "Librairie", "cats": [], "amax": 30000, "hb": 60}
    runtime, broker, ticks = _runtime(str(tmp_path), config)
    for t in range(0, 25001, 500):
        ticks[0] = t
        runtime.step()
    assert _statuses(broker) == ["online"]
