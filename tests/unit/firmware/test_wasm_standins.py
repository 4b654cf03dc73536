"""The bench's stand-ins for the webassembly port (bench/wasm_standins.py): its AES must be
AES (the 32-bit lane signs and verifies with it, so a wrong cipher would still agree with
itself), and its broker end must answer what the MQTT client waits for."""

import importlib.util
import os
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# Loaded from its file: bench/ on sys.path would shadow packages with its own module names
# (bench/protocol.py).
_spec = importlib.util.spec_from_file_location(
    "wasm_standins", Path(__file__).resolve().parents[3] / "bench" / "wasm_standins.py")
wasm_standins = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(wasm_standins)


def test_aes_matches_fips_197_and_the_cryptography_package():
    # FIPS-197 appendix C.1 and C.3
    plain = bytes.fromhex("00112233445566778899aabbccddeeff")
    assert wasm_standins.aes(bytes(range(16)), 1).encrypt(plain).hex() == \
        "69c4e0d86a7b0430d8cdb78070b4c55a"
    assert wasm_standins.aes(bytes(range(32)), 1).encrypt(plain).hex() == \
        "8ea2b7ca516745bfeafc49904b496089"
    for size in (16, 32):
        for _ in range(50):
            key, block = os.urandom(size), os.urandom(16)
            expected = Cipher(algorithms.AES(key), modes.ECB()).encryptor().update(block)
            assert wasm_standins.aes(key, 1).encrypt(block) == expected


def test_broker_end_answers_connect_subscribe_publish_and_ping():
    sock = wasm_standins.connect("ignored", 0)
    buf = bytearray(64)
    connect = bytes.fromhex("101000044d5154540402001e0004") + b"abcd"
    sock.write(connect[:5])  # a packet in pieces
    assert sock.readinto(buf) is None
    sock.write(connect[5:])
    assert buf[:sock.readinto(buf)] == b"\x20\x02\x00\x00"
    subscribe = b"\x82\x0c\x00\x07" + b"\x00\x03a/b\x01" + b"\x00\x01c\x01"
    sock.write(subscribe)
    assert buf[:sock.readinto(buf)] == b"\x90\x04\x00\x07\x01\x01"
    sock.write(b"\x32\x09\x00\x03a/b\x00\x09hi")  # QoS 1, packet id 9
    sock.write(b"\xc0\x00")
    assert buf[:sock.readinto(buf)] == b"\x40\x02\x00\x09\xd0\x00"
    assert sock.published == 1
