# The one place a terminal is put together from its data directory: keys, board drivers, MQTT
# client with its last will, journal, log, Runtime, and the update agent's root and boot facts.
# firmware/main.py calls it on a board and on the unix port; the simulator calls it for each
# in-process terminal, with its own socket factory (link cuts), clock (skew) and screen tap.
# Anything wired here reaches every terminal, simulated ones included: a terminal built by
# hand once missed the update root, and ignored every update offer.

from protocol import auth, messages, topics
from terminal import store
from terminal.boards import build_drivers
from terminal.journal import Journal
from terminal.keys import KeyVault
from terminal.mqtt.client import MQTTClient
from terminal.ringlog import RingLog
from terminal.runtime import Runtime

NO_UPDATE = {"slot": None, "rel": None, "trial": None, "pending": False}


def tls_context(root, tls):
    """TLS with the device certificate (DER: MicroPython's TLS reads DER, not PEM). Checking
    the server is off by default in MicroPython: turn it on, with the fleet CA."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_cert_chain(store.read(root + "/" + tls["cert"]), store.read(root + "/" + tls["key"]))
    ctx.load_verify_locations(cadata=store.read(root + "/" + tls["ca"]))
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def assemble(root, board, ticks_ms, ticks_diff, boot=None, code=".", on_restart=None,
             socket_factory=None, clock=None, display=None):
    """A ready Runtime (not started) and its drivers.

    board: a board definition (terminal.boards.load); boot: what the boot selector returned
    (terminal.update.boot.select), None for no update state; code: the directory of the
    factory code (the update agent reads its manifest); clock replaces the board's clock and
    display(screen) wraps the board's screen (the simulator's skew and screen tap)."""
    boot = boot or NO_UPDATE
    config = store.load_json(root + "/config.json", {}) or {}
    vault = KeyVault(root)
    boots = (store.load_json(root + "/boots.json", {}) or {}).get("n", 0) + 1
    store.save_json(root + "/boots.json", {"n": boots})
    drivers = build_drivers(board, config)
    if clock is not None:
        drivers["clock"] = clock
    if display is not None:
        drivers["display"] = display(drivers["display"])
    broker = config.get("broker", {})
    tls = broker.get("tls")
    dev = vault.device_id
    will = messages.encode(messages.build("status", {"dev": dev, "ts": messages.TS_MIN,
                                                     "st": "offline"}))
    # "hosts": [[host, port], ...], a broker cluster's nodes; else one "host" and "port".
    mqtt = MQTTClient(dev, broker.get("hosts") or broker.get("host", "127.0.0.1"),
                      broker.get("port", 1883),
                      keepalive=broker.get("keepalive", 30), clean_session=False,
                      will=(topics.topic(dev, "status"), will, 1, True),
                      ssl_context=tls_context(root, tls) if tls else None,
                      server_hostname=broker.get("hostname"), socket_factory=socket_factory,
                      username=dev, password=auth.broker_password(vault.command_key))
    saved = store.load_json(root + "/device_config.json", None)
    runtime = Runtime(drivers, vault, Journal(root), RingLog(root), mqtt, ticks_ms, ticks_diff,
                      drivers["clock"].now, config=saved, boots=boots, on_restart=on_restart,
                      on_config=lambda m: store.save_json(root + "/device_config.json", m))
    runtime.update_root, runtime.boot_info = root, dict(boot, code=code)
    runtime.fw = boot["rel"] or runtime.fw  # the running release's version, when updated
    if boot["pending"]:  # a trial to confirm, a report to send or a download to resume
        runtime.start_updater()
    return runtime, drivers
