"""ECDSA P-256 verification against the CAVP, RFC 6979 and edge-case vectors, and its cost beside
a SHA-256 of a 4 KB manifest. Portable: pytest runs it on CPython, runner.py on the MicroPython
binary (MicroPython-safe code only)."""

import hashlib

from portable import elapsed_us, load_vectors, ticks_us, unhex

from protocol import ecdsa_p256

TIMING_ROUNDS = 2


def test_cavp_signature_verification_vectors():
    for i, v in enumerate(load_vectors("ecdsa_p256.json")["cavp_sigver"]):
        key = unhex("04" + v["qx"] + v["qy"])
        got = ecdsa_p256.verify(key, unhex(v["msg"]), unhex(v["r"] + v["s"]))
        assert got == (v["result"] == "P"), "cavp %d %s got %s" % (i, v["result"], got)


def test_rfc6979_signatures_verify_and_altered_messages_do_not():
    rf = load_vectors("ecdsa_p256.json")["rfc6979"]
    key = unhex("04" + rf["ux"] + rf["uy"])
    for sig in rf["signatures"]:
        raw = unhex(sig["r"] + sig["s"])
        assert ecdsa_p256.verify(key, sig["message"].encode(), raw) is True, sig["message"]
        assert ecdsa_p256.verify(key, sig["message"].encode() + b"!", raw) is False


def test_edge_cases():
    for v in load_vectors("ecdsa_p256.json")["edge"]:
        got = ecdsa_p256.verify(unhex(v["key"]), unhex(v["msg"]), unhex(v["sig"]))
        assert got == (v["result"] == "P"), v["name"] + " got " + str(got)


def test_verify_cost_beside_a_manifest_hash():
    # Printed, not judged (docs/updates.md quotes it).
    rf = load_vectors("ecdsa_p256.json")["rfc6979"]
    key, sig = unhex("04" + rf["ux"] + rf["uy"]), rf["signatures"][0]
    raw = unhex(sig["r"] + sig["s"])
    start = ticks_us()
    for _ in range(TIMING_ROUNDS):
        ecdsa_p256.verify(key, b"sample", raw)
    verify_us = elapsed_us(start) // TIMING_ROUNDS
    blob = bytes(4096)
    start = ticks_us()
    for _ in range(TIMING_ROUNDS * 20):
        hashlib.sha256(blob).digest()
    sha_us = elapsed_us(start) // (TIMING_ROUNDS * 20)
    print("INFO ecdsa verify_ms %d.%03d sha256_4k_ms %d.%03d" % (
        verify_us // 1000, verify_us % 1000, sha_us // 1000, sha_us % 1000))
