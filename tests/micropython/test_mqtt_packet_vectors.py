"""The terminal's MQTT 3.1.1 packets (firmware/terminal/mqtt/packets.py) against the shared
vectors (mqtt_vectors.json) byte for byte, the same stream decoded whatever its chunks, publish
round trips at every remaining-length width, and random or damaged bytes raising only
PacketError. Portable: pytest runs it on CPython, runner.py on the MicroPython binary; the
hand-written and hypothesis cases are tests/unit/firmware/test_mqtt_packets.py."""

import json
import random

from portable import ROOT, unhex
from terminal.mqtt import packets as pk

FUZZ_ROUNDS = 6000


def load():
    with open(ROOT + "/tests/micropython/mqtt_vectors.json") as f:
        return json.loads(f.read())


def tohex(data):
    return "".join("%02x" % b for b in data)


def plain(packet):
    return [tohex(x) if isinstance(x, bytes) else x for x in packet]


def arg(value):
    return unhex(value["hex"]) if isinstance(value, dict) else value


def decode_stream():
    """Every decode vector one after the other, and the packets they hold."""
    stream, expected = b"", []
    for v in load()["decode"]:
        stream += unhex(v["hex"])
        expected += v["packets"]
    return stream, expected


def test_encoders_match_the_vectors():
    for v in load()["encode"]:
        args = [arg(a) for a in v["args"]]
        if v["fn"] == "subscribe":
            args[1] = [(t, q) for t, q in args[1]]
        got = tohex(getattr(pk, v["fn"])(*args, **v["kwargs"]))
        assert got == v["hex"], v["name"] + " " + got


def test_decoder_matches_the_vectors():
    for v in load()["decode"]:
        got = [plain(p) for p in pk.Decoder().feed(unhex(v["hex"]))]
        assert got == v["packets"], v["name"] + " " + repr(got)


def test_decoder_refuses_the_malformed_vectors():
    for v in load()["malformed"]:
        decoder = pk.Decoder(v.get("max_packet", pk.MAX_PACKET))
        try:
            decoder.feed(unhex(v["hex"]))
            raise AssertionError(v["name"] + " accepted")
        except pk.PacketError:
            pass


def test_the_same_stream_cut_at_random_places_decodes_the_same():
    stream, expected = decode_stream()
    random.seed(1129)
    for _ in range(FUZZ_ROUNDS // 20):
        decoder, got, i = pk.Decoder(), [], 0
        while i < len(stream):
            step = 1 + random.getrandbits(4)
            got += [plain(p) for p in decoder.feed(memoryview(stream)[i:i + step])]
            i += step
        assert got == expected


def test_publish_round_trips_with_1_2_and_3_byte_remaining_lengths():
    for size in (0, 1, 120, 121, 16376, 16377):
        payload = bytes(n % 251 for n in range(size))
        packet = pk.publish("a/b", payload, 1, packet_id=7)
        got = pk.Decoder(20000).feed(packet)
        assert got == [(pk.PUBLISH, "a/b", payload, 1, False, False, 7)], len(packet)


def test_random_and_damaged_bytes_raise_only_packet_errors():
    stream = decode_stream()[0]
    random.seed(1130)
    for i in range(FUZZ_ROUNDS):
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
            raise AssertionError(repr(err) + " on " + tohex(data)) from err
