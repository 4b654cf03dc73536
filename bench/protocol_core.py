# Runs on MicroPython and CPython alike: python|micropython protocol_core.py <repo> <iterations>
# Times encode+MAC and parse+verify for each sealed message type of the shared vectors, the DUKPT
# key derivations, and a raw hashlib.sha256 of the same bytes as the baseline. Prints one JSON.

import sys

sys.path.insert(0, sys.argv[1])

import gc  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

from protocol import auth, dukpt, messages  # noqa: E402

ITER = int(sys.argv[2]) if len(sys.argv) > 2 else 200

if hasattr(time, "ticks_us"):
    def now_us():
        return time.ticks_us()

    def elapsed_us(start):
        return time.ticks_diff(time.ticks_us(), start)
else:
    def now_us():
        return time.perf_counter_ns() // 1000

    def elapsed_us(start):
        return now_us() - start


def per_call_us(fn, iterations):
    gc.collect()
    start = now_us()
    for _ in range(iterations):
        fn()
    return elapsed_us(start) / iterations


def unhex(text):
    return bytes(int(text[i:i + 2], 16) for i in range(0, len(text), 2))


def main():
    with open(sys.argv[1] + "/protocol/vectors/messages.json") as f:
        vectors = json.loads(f.read())["messages"]
    out = {"runtime": sys.implementation.name, "iterations": ITER, "messages": {}}
    for vector in vectors:
        if "mac" not in vector:
            continue
        payload = vector["payload"].encode()
        key = unhex(vector["key"])
        template = messages.parse(payload)

        def seal():
            message = dict(template)
            del message["mac"]
            auth.seal(message, key)

        def parse_verify():
            auth.verify(messages.parse(payload), key)

        sha = per_call_us(lambda: hashlib.sha256(payload).digest(), ITER)
        enc = per_call_us(seal, ITER)
        dec = per_call_us(parse_verify, ITER)
        out["messages"][vector["type"]] = {
            "bytes": len(payload), "encode_mac_us": round(enc, 1),
            "parse_verify_us": round(dec, 1), "sha256_us": round(sha, 2),
            "encode_ratio": round(enc / sha, 1), "parse_ratio": round(dec / sha, 1)}
    bdk = unhex("FEDCBA9876543210F1F1F1F1F1F1F1F1")
    kid = unhex("1234567890123456")
    device = dukpt.DeviceDukpt.load_initial_key(dukpt.derive_initial_key(bdk, kid), kid)

    def device_txn():
        device.next_transaction()
        auth.device_mac_keys(device)

    n = max(10, ITER // 4)
    out["dukpt"] = {
        "device_next_transaction_and_keys_us": round(per_call_us(device_txn, n), 1),
        "host_mac_key_from_bdk_us": round(per_call_us(
            lambda: auth.dukpt_mac_key(bdk, kid, 0xFFFF0000 >> 8, messages.DUKPT_REQUEST), n), 1),
    }
    print(json.dumps(out))


main()
