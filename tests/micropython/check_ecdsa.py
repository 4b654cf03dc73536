# Runs the ECDSA P-256 vectors on whatever Python runs it: the MicroPython unix port or CPython.
# Usage:  micropython tests/micropython/check_ecdsa.py <repo_root> [timing_rounds]
# Prints "PASS name" / "FAIL name detail" per vector, "TIME verify_ms <ms> sha256_ms <ms>",
# then "SUMMARY <passed> <failed>"; exits 1 on any failure. MicroPython-safe code only.

import binascii
import hashlib
import json
import sys
import time

ROOT = sys.argv[1] if len(sys.argv) > 1 else "."
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
sys.path.insert(0, ROOT)

from protocol import ecdsa_p256  # noqa: E402

RESULTS = [0, 0]


def h(text):
    return binascii.unhexlify(text)


def report(name, ok, detail=""):
    RESULTS[0 if ok else 1] += 1
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else " " + detail))


def ticks():
    if hasattr(time, "ticks_us"):
        return time.ticks_us()
    return int(time.perf_counter() * 1000000)


def elapsed_us(start):
    if hasattr(time, "ticks_diff"):
        return time.ticks_diff(ticks(), start)
    return ticks() - start


def main():
    with open(ROOT + "/protocol/vectors/ecdsa_p256.json") as f:
        doc = json.load(f)
    for i, v in enumerate(doc["cavp_sigver"]):
        key = h("04" + v["qx"] + v["qy"])
        got = ecdsa_p256.verify(key, h(v["msg"]), h(v["r"] + v["s"]))
        report("cavp.%d.%s" % (i, v["result"]), got == (v["result"] == "P"), "got " + str(got))
    rf = doc["rfc6979"]
    key = h("04" + rf["ux"] + rf["uy"])
    for sig in rf["signatures"]:
        got = ecdsa_p256.verify(key, sig["message"].encode(), h(sig["r"] + sig["s"]))
        report("rfc6979." + sig["message"], got is True, "got " + str(got))
        bad = ecdsa_p256.verify(key, sig["message"].encode() + b"!", h(sig["r"] + sig["s"]))
        report("rfc6979." + sig["message"] + ".altered", bad is False, "got " + str(bad))
    for v in doc["edge"]:
        got = ecdsa_p256.verify(h(v["key"]), h(v["msg"]), h(v["sig"]))
        report("edge." + v["name"], got == (v["result"] == "P"), "got " + str(got))
    # Timing: one verify of the RFC signature beside a SHA-256 of a 4 KB manifest.
    sig = rf["signatures"][0]
    raw = h(sig["r"] + sig["s"])
    start = ticks()
    for _ in range(ROUNDS):
        ecdsa_p256.verify(key, b"sample", raw)
    verify_us = elapsed_us(start) // ROUNDS
    blob = bytes(4096)
    start = ticks()
    for _ in range(ROUNDS * 20):
        hashlib.sha256(blob).digest()
    sha_us = elapsed_us(start) // (ROUNDS * 20)
    print("TIME verify_ms %d.%03d sha256_4k_ms %d.%03d" % (verify_us // 1000, verify_us % 1000,
                                                          sha_us // 1000, sha_us % 1000))
    print("SUMMARY %d %d" % (RESULTS[0], RESULTS[1]))
    if RESULTS[1]:
        sys.exit(1)


main()
