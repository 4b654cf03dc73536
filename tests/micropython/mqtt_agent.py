# A terminal's MQTT client (firmware/terminal/mqtt) that prints what happens, one line per
# event, until killed; tests/integration/test_firmware_mqtt_broker.py, _tls.py and
# test_firmware_failover.py run it (through tests/integration/mqtt_agents.py) on the MicroPython
# binary and on CPython against a real broker:
#   mqtt_agent.py <repo> <port[,port...]> <client_id> <backoff_min_ms> [tls <dir> <hostname>]
# Will: retained "offline" on test/<id>/status; it subscribes to test/<id>/in and
# test/<id>/echo once, and on each connection publishes a retained "online" status and
# "ping-<n>" to the echo topic. Only MicroPython-safe syntax and modules here.

import sys

ROOT = sys.argv[1]
sys.path.insert(0, ROOT + "/firmware")
sys.path.insert(0, ROOT)

import gc

gc.collect()
FREE_AT_START = gc.mem_free() if hasattr(gc, "mem_free") else 0
MICRO = sys.implementation.name == "micropython"


def tls_context(directory, hostname):
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if MICRO:  # the board's way: DER bytes
        with open(directory + "/ca.der", "rb") as f:
            ctx.load_verify_locations(cadata=f.read())
        ctx.load_cert_chain(directory + "/client.crt.der", directory + "/client.key.der")
    else:  # CPython's load_cert_chain reads PEM files only
        with open(directory + "/ca.der", "rb") as f:
            ctx.load_verify_locations(cadata=f.read())
        ctx.load_cert_chain(directory + "/client.crt.pem", directory + "/client.key.pem")
    ctx.verify_mode = ssl.CERT_REQUIRED  # MicroPython's default is CERT_NONE
    return ctx


def agent(port, client_id, backoff_min_ms, tls):
    from terminal.mqtt.client import MQTTClient

    gc.collect()
    if MICRO:
        print("MEM code_bytes=%d" % (FREE_AT_START - gc.mem_free()))
    base = "test/" + client_id
    ctx = tls_context(tls[0], tls[1]) if tls else None
    gc.collect()
    free0 = gc.mem_free() if MICRO else 0
    # port: one, or "p1,p2,p3": a broker cluster's nodes on loopback
    ports = [int(p) for p in port.split(",")]
    host = "127.0.0.1" if len(ports) == 1 else [["127.0.0.1", p] for p in ports]
    client = MQTTClient(client_id, host, ports[0], keepalive=5, clean_session=False,
                        will=(base + "/status", b"offline", 1, True), ssl_context=ctx,
                        server_hostname=tls[1] if tls else None, backoff_min_ms=backoff_min_ms,
                        backoff_max_ms=4 * backoff_min_ms)
    count = [0]

    def on_connect():
        count[0] += 1
        print("CONNECTED %d session=%d port=%d" % (count[0], client.session_present,
                                                    client.port))
        client.publish(base + "/status", b"online", 1, True)
        client.publish(base + "/echo", "ping-%d" % count[0], 1)

    client.on_connect = on_connect
    client.subscribe(base + "/in", 1)  # before connecting: the client (re)subscribes by itself
    client.subscribe(base + "/echo", 1)
    client.on_disconnect = lambda: print("DOWN")
    client.on_message = lambda t, p: print("RECEIVED " + t + " " + p.decode())
    client.on_puback = lambda pid: print("PUBACK %d" % pid)
    last_error = None
    while True:
        client.service(20)
        if client.last_error is not last_error:
            last_error = client.last_error
            print("ERROR " + repr(last_error))
        if MICRO and count[0] and free0:
            gc.collect()
            print("MEM connected_client_bytes=%d" % (free0 - gc.mem_free()))
            free0 = 0


tls_args = sys.argv[6:8] if len(sys.argv) > 6 and sys.argv[5] == "tls" else None
agent(sys.argv[2], sys.argv[3], int(sys.argv[4]), tls_args)
