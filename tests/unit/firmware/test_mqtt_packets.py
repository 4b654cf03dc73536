"""MQTT 3.1.1 packets of the terminal (firmware/terminal/mqtt/packets.py), byte for byte.

The shared vectors (tests/micropython/mqtt_vectors.json) run on both runtimes in
tests/micropython/test_mqtt_packet_vectors.py."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from terminal.mqtt import packets as pk


def test_connect_minimal():
    assert pk.connect("c", clean_session=True, keepalive=0) == bytes([
        0x10, 13,                              # CONNECT, remaining length
        0x00, 0x04, *b"MQTT",                  # protocol name
        0x04,                                  # protocol level 4 = 3.1.1
        0x02,                                  # flags: clean session
        0x00, 0x00,                            # keepalive 0 s
        0x00, 0x01, *b"c",                     # client id
    ])


def test_connect_with_retained_will_and_credentials():
    packet = pk.connect("term-1", False, 30, "t/term-1/status", b"offline", 1, True, "u", "p")
    assert packet == bytes([
        0x10, 50,
        0x00, 0x04, *b"MQTT", 0x04,
        0xEC,                                  # user, password, will retain, will QoS 1, will
        0x00, 30,                              # keepalive 30 s
        0x00, 6, *b"term-1",                   # client id
        0x00, 15, *b"t/term-1/status",         # will topic
        0x00, 7, *b"offline",                  # will message
        0x00, 1, *b"u",                        # user name
        0x00, 1, *b"p",                        # password
    ])


def test_publish_qos0_qos1_retain_dup():
    assert pk.publish("a/b", b"hi") == bytes([
        0x30, 7,                               # PUBLISH QoS 0, remaining length
        0x00, 3, *b"a/b",                      # topic
        *b"hi",                                # payload (no packet id at QoS 0)
    ])
    assert pk.publish("t/x", b"\x00\xff", qos=1, retain=True, packet_id=10) == bytes([
        0x33, 9,                               # PUBLISH QoS 1 + retain
        0x00, 3, *b"t/x",
        0x00, 10,                              # packet id
        0x00, 0xFF,
    ])
    packet = pk.publish("t", b"", qos=1, packet_id=0x1234)
    assert pk.set_dup(packet) == bytes([0x3A, 5, 0x00, 1, *b"t", 0x12, 0x34])  # DUP bit 0x08


def test_publish_remaining_length_varint():
    assert pk.publish("a", b"x" * 200)[:3] == bytes([0x30, 0xCB, 0x01])  # 203 = 0x4B + 1*128
    assert pk.publish("a", b"x" * 16380)[:3] == bytes([0x30, 0xFF, 0x7F])  # 16383: 2 bytes max
    assert pk.publish("a", b"x" * 16381)[:4] == bytes([0x30, 0x80, 0x80, 0x01])  # 16384


def test_subscribe_unsubscribe_puback_ping_disconnect():
    assert pk.subscribe(2, [("a/+/c", 0), ("d", 1)]) == bytes([
        0x82, 14,                              # SUBSCRIBE (reserved flags 0010)
        0x00, 2,                               # packet id
        0x00, 5, *b"a/+/c", 0,                 # filter, requested QoS 0
        0x00, 1, *b"d", 1,                     # filter, requested QoS 1
    ])
    assert pk.unsubscribe(3, ["a/#", "b"]) == bytes([
        0xA2, 10, 0x00, 3,                     # UNSUBSCRIBE, packet id
        0x00, 3, *b"a/#", 0x00, 1, *b"b",      # filters
    ])
    assert pk.puback(0x0102) == bytes([0x40, 2, 0x01, 0x02])
    assert pk.pingreq() == bytes([0xC0, 0])
    assert pk.disconnect() == bytes([0xE0, 0])


def test_decode_broker_packets():
    data = bytes([
        0x20, 2, 0x01, 0x00,                   # CONNACK, session present, accepted
        0x90, 4, 0x00, 1, 0x01, 0x80,          # SUBACK id 1: QoS 1 granted, one refused
        0xB0, 2, 0x00, 3,                      # UNSUBACK id 3
        0x3B, 7, 0x00, 1, *b"t", 0, 5, 1, 0xFF,  # PUBLISH DUP QoS 1 retain, id 5
        0x40, 2, 0x12, 0x34,                   # PUBACK 0x1234
        0xD0, 0,                               # PINGRESP
    ])
    assert pk.Decoder().feed(data) == [
        (pk.CONNACK, True, 0), (pk.SUBACK, 1, [1, 0x80]), (pk.UNSUBACK, 3),
        (pk.PUBLISH, "t", b"\x01\xff", 1, True, True, 5), (pk.PUBACK, 0x1234), (pk.PINGRESP,)]


def test_oversized_packet_is_refused_before_allocation():
    decoder = pk.Decoder(max_packet=1024)
    with pytest.raises(pk.PacketError, match="1025 bytes over the 1024-byte limit"):
        decoder.feed(b"\x30\x81\x08")          # announces 1025 bytes; nothing else sent


@pytest.mark.parametrize("call", [
    lambda: pk.publish("a/#", b""), lambda: pk.publish("", b""), lambda: pk.publish("a", b"", 2),
    lambda: pk.publish("a", b"", 1), lambda: pk.publish("a", b"", 0, dup=True),
    lambda: pk.publish("a", b"", 1, packet_id=65536), lambda: pk.connect("", False),
    lambda: pk.connect("c", password="p"), lambda: pk.connect("c", keepalive=70000),
    lambda: pk.subscribe(1, []), lambda: pk.subscribe(0, [("a", 0)]),
    lambda: pk.subscribe(1, [("a", 3)]), lambda: pk.puback(0),
    lambda: pk.publish("é" * 40000, b""),    # topic over 65535 UTF-8 bytes
])
def test_bad_encoder_arguments_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


topics = st.text(st.characters(blacklist_characters="+#\x00", blacklist_categories=["Cs"]),
                 min_size=1, max_size=40)
publishes = st.builds(
    lambda topic, payload, qos, retain, dup, pid: (
        topic, payload, qos, retain, dup and qos == 1, pid if qos else None),
    topics, st.binary(max_size=300), st.sampled_from([0, 1]), st.booleans(), st.booleans(),
    st.integers(1, 65535))


@given(publishes)
def test_publish_round_trip(p):
    topic, payload, qos, retain, dup, pid = p
    packet = pk.publish(topic, payload, qos, retain, dup, pid)
    assert pk.Decoder().feed(packet) == [(pk.PUBLISH, topic, payload, qos, retain, dup, pid)]


@given(st.lists(publishes, min_size=1, max_size=8), st.data())
@settings(max_examples=200)
def test_any_chunking_decodes_the_same(items, data):
    stream = b"".join(bytes(pk.publish(*p)) + b"\x40\x02\x00\x07\xd0\x00" for p in items)
    whole = pk.Decoder().feed(stream)
    assert len(whole) == 3 * len(items)
    decoder, got, i = pk.Decoder(), [], 0
    while i < len(stream):
        step = data.draw(st.integers(1, 64))
        got += decoder.feed(memoryview(stream)[i:i + step])
        i += step
    assert got == whole
    one_by_one = pk.Decoder()
    assert [p for b in stream for p in one_by_one.feed(bytes([b]))] == whole


def _only_packet_errors(data, max_packet=512):
    try:
        pk.Decoder(max_packet).feed(data)
    except pk.PacketError:
        pass


@given(st.binary(max_size=600))
@settings(max_examples=1000)
def test_random_bytes_raise_only_packet_error(data):
    _only_packet_errors(data)


@given(publishes, st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1,
                           max_size=4))
@settings(max_examples=500)
def test_mutated_packets_raise_only_packet_error(p, flips):
    packet = bytearray(b"\x20\x02\x00\x00" + bytes(pk.publish(*p)) + b"\x90\x03\x00\x01\x01")
    for where, value in flips:
        packet[where % len(packet)] = value
    _only_packet_errors(bytes(packet))
