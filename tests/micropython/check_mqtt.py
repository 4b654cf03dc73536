# The terminal's MQTT code on whatever Python runs it (the MicroPython binary or CPython).
#   check_mqtt.py <repo> packets [rounds]      vectors byte for byte + fuzzing; prints PASS/FAIL
#                                               lines and "SUMMARY <passed> <failed>"
#   check_mqtt.py <repo> agent <port[,port...]> <client_id> <backoff_min_ms> [tls <dir> <hostname>]
#       a client that prints what happens, one line per event, until killed (for
#       tests/integration/test_firmware_mqtt.py): will = retained "offline" on
#       test/<id>/status; it subscribes to test/<id>/in and test/<id>/echo once, and on each
#       connection publishes a retained "online" status and "ping-<n>" to the echo topic.
# Only MicroPython-safe syntax and modules here.

import sys

ROOT = sys.argv[1]
sys.path.insert(0, ROOT + "/firmware")
sys.path.insert(0, ROOT)

import gc
import json
import random

gc.collect()
FREE_AT_START = gc.mem_free() if hasattr(gc, "mem_free") else 0

from terminal.mqtt import packets as pk

MICRO = sys.implementation.name == "micropython"
RESULTS = [0, 0]


def report(name, ok, detail=""):
    RESULTS[0 if ok else 1] += 1
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else " " + str(detail)))


def unhex(text):
    return bytes(int(text[i:i + 2], 16) for i in range(0, len(text), 2))


def tohex(data):
    return "".join("%02x" % b for b in data)


def plain(packet):
    return [tohex(x) if isinstance(x, bytes) else x for x in packet]


def arg(value):
    return unhex(value["hex"]) if isinstance(value, dict) else value


def check_packets(rounds):
    with open(ROOT + "/tests/micropython/mqtt_vectors.json") as f:
        vectors = json.loads(f.read())
    for v in vectors["encode"]:
        args = [arg(a) for a in v["args"]]
        if v["fn"] == "subscribe":
            args[1] = [(t, q) for t, q in args[1]]
        try:
            got = tohex(getattr(pk, v["fn"])(*args, **v["kwargs"]))
            report("encode." + v["name"], got == v["hex"], got)
        except Exception as err:
            report("encode." + v["name"], False, repr(err))
    stream = b""
    expected = []
    for v in vectors["decode"]:
        data = unhex(v["hex"])
        stream += data
        expected += v["packets"]
        got = [plain(p) for p in pk.Decoder().feed(data)]
        report("decode." + v["name"], got == v["packets"], got)
    for v in vectors["malformed"]:
        decoder = pk.Decoder(v.get("max_packet", pk.MAX_PACKET))
        try:
            decoder.feed(unhex(v["hex"]))
            report("malformed." + v["name"], False, "accepted")
        except pk.PacketError:
            report("malformed." + v["name"], True)
        except Exception as err:
            report("malformed." + v["name"], False, repr(err))
    random.seed(1129)
    ok = True
    for _ in range(rounds // 20):  # the same stream cut at random places decodes the same
        decoder, got, i = pk.Decoder(), [], 0
        while i < len(stream):
            step = 1 + random.getrandbits(4)
            got += [plain(p) for p in decoder.feed(memoryview(stream)[i:i + step])]
            i += step
        ok = ok and got == expected
    report("decode.random_chunks", ok)
    for size in (0, 1, 120, 121, 16376, 16377):  # 1-, 2- and 3-byte remaining lengths
        payload = bytes(size % 251 for size in range(size))
        packet = pk.publish("a/b", payload, 1, packet_id=7)
        got = pk.Decoder(20000).feed(packet)
        report("roundtrip.publish_%d" % size, got == [(pk.PUBLISH, "a/b", payload, 1, False,
                                                        False, 7)], len(packet))
    fuzz(rounds, stream)


def fuzz(rounds, stream):
    bad = None
    for i in range(rounds):
        if i % 2:
            data = bytes(random.getrandbits(8) for _ in range(random.getrandbits(6)))
        else:
            data = bytearray(stream)
            for _ in range(1 + random.getrandbits(2)):
                data[random.getrandbits(16) % len(data)] = random.getrandbits(8)
        try:
            pk.Decoder(4096).feed(data)
        except pk.PacketError:
            pass
        except Exception as err:
            bad = repr(err) + " on " + tohex(data)
            break
    report("fuzz.only_packet_errors", bad is None, bad)


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


mode = sys.argv[2] if len(sys.argv) > 2 else "packets"
if mode == "agent":
    tls_args = sys.argv[7:9] if len(sys.argv) > 7 and sys.argv[6] == "tls" else None
    agent(sys.argv[3], sys.argv[4], int(sys.argv[5]), tls_args)
else:
    check_packets(int(sys.argv[3]) if len(sys.argv) > 3 else 2000)
    print("SUMMARY %d %d" % (RESULTS[0], RESULTS[1]))
    if RESULTS[1]:
        sys.exit(1)
