# Runs the crypto vectors on whatever Python runs it: the MicroPython unix port (the terminal's
# runtime) or CPython. Usage:  micropython tests/micropython/check_crypto.py <repo_root>
# Prints "PASS name" or "FAIL name detail" per check, then "SUMMARY <passed> <failed>", and
# exits 1 on any failure. Only MicroPython-safe syntax and modules here.

import binascii
import json
import sys
import time

ROOT = sys.argv[1] if len(sys.argv) > 1 else "."
sys.path.insert(0, ROOT)

from protocol import aes, dukpt  # noqa: E402
from protocol.cmac import aes_cmac, subkeys  # noqa: E402
from protocol.dukpt import DeviceDukpt  # noqa: E402
from protocol.hmac256 import constant_time_equal, hmac_sha256  # noqa: E402

RESULTS = [0, 0]


def h(s):
    return binascii.unhexlify(s)


def hx(b):
    return binascii.hexlify(b).decode().upper()


def load(name):
    with open(ROOT + "/protocol/vectors/" + name) as f:
        return json.load(f)


def check(name, fn, *args):
    try:
        ok = fn(*args)
        detail = "" if ok is True else "got " + str(ok)
    except Exception as e:  # a crash is a failed check, the others still run
        ok, detail = False, f"{type(e).__name__}: {e}"
    if ok is True:
        RESULTS[0] += 1
        print("PASS " + name)
    else:
        RESULTS[1] += 1
        print("FAIL " + name + " " + detail)


def expect_code(code, fn, *args):
    try:
        fn(*args)
    except Exception as e:
        if getattr(e, "code", None) == code:
            return True
        return f"{type(e).__name__}: {e}"
    return "no error raised"


def rejects_192(block):
    try:
        aes.aes_ecb_encrypt(bytes(24), block)
    except ValueError:
        return True
    return "24-byte key accepted"


def ct_equal_cases():
    return (constant_time_equal(b"abc", b"abc") and constant_time_equal(b"", b"")
            and not constant_time_equal(b"abc", b"abd") and not constant_time_equal(b"abc", b"ab"))


def mac_checks():
    fips = h("00112233445566778899aabbccddeeff")
    check("aes_fips197_c1", lambda: hx(aes.aes_ecb_encrypt(bytes(range(16)), fips))
          == "69C4E0D86A7B0430D8CDB78070B4C55A")
    check("aes_rejects_192", rejects_192, fips)
    v = load("cmac.json")
    for i, s in enumerate(v["subkeys"]):
        check(f"cmac_subkeys_{i}", lambda s: [hx(k) for k in subkeys(h(s["key"]))]
              == [s["k1"].upper(), s["k2"].upper()], s)
    for i, e in enumerate(v["examples"]):
        check(f"cmac_example_{i}", lambda e: hx(aes_cmac(h(e["key"]), h(e["msg"])))
              == e["tag"].upper(), e)
    for c in load("hmac_sha256.json")["cases"]:
        # Case 5 publishes only the first 16 bytes of the tag.
        check("hmac_rfc4231_case{}".format(c["case"]), lambda c: hx(hmac_sha256(
            h(c["key"]), h(c["data"]))[:c.get("truncate_to", 32)]) == c["mac"].upper(), c)
    check("ct_equal", ct_equal_cases)


def state_at(ik, ikid, c):
    # Device state just before counter c, built from host derivations (proved in test_dukpt).
    low = dukpt.popcount((c ^ (c & (c - 1))) - 1)
    regs = [None] * dukpt.NUM_REG
    for i in range(low, dukpt.NUM_REG):
        k = ((c >> (i + 1)) << (i + 1)) | (1 << i)
        if k >= c and dukpt.popcount(k) <= dukpt.MAX_WORK:
            regs[i] = hx(dukpt.transaction_key_from_ik(ik, ikid, k))
    return {"v": 1, "ikid": hx(ikid), "key_len": len(ik), "counter": c, "registers": regs}


def txn_key(ik, ikid, e):
    key = dukpt.transaction_key_from_ik(ik, ikid, e["counter"])
    return key == h(e["key"]) and hx(dukpt.ksn(ikid, e["counter"])) == e["ksn"]


def invalid_txn_key(ik, ikid, e):
    return dukpt.transaction_key_from_ik(ik, ikid, e["counter"], True) == h(e["key"])


def working_key(ik, ikid, e):
    c, usage = e["counter"], getattr(dukpt, e["usage"])
    kt = dukpt.KEY_TYPE_AES256 if e["key_type"] == "AES256" else dukpt.KEY_TYPE_AES128
    if e["path"] == "device":
        dev = DeviceDukpt.load_initial_key(ik, ikid)
        while dev.next_transaction()[0] != c:
            pass
        return dev.working_key(usage, kt) == h(e["key"])
    tk = dukpt.transaction_key_from_ik(ik, ikid, c)
    return dukpt.derive_working_key(tk, usage, kt, ikid, c) == h(e["key"])


def device_walk(ik, ikid, published, counters):
    dev = DeviceDukpt.from_state(state_at(ik, ikid, counters[0]))
    for want in counters:
        c, key = dev.next_transaction()
        if (c, key) != (want, published[want]):
            return f"counter {c:X}"
    return True


def last_then_exhausted(ik, ikid):
    dev = DeviceDukpt.from_state(state_at(ik, ikid, dukpt.COUNTER_MAX))
    if dev.next_transaction()[0] != dukpt.COUNTER_MAX:
        return "last counter is not 0xFFFF0000"
    return expect_code("counter_exhausted", dev.next_transaction)


def self_walk_step(dev, e, msg):
    c, key = dev.next_transaction()
    mk = dev.working_key(dukpt.MAC_GENERATION)
    return (c == e["counter"] and hx(key) == e["transaction_key"]
            and hx(mk) == e["mac_generation_key"] and hx(aes_cmac(mk, msg)) == e["cmac"])


def round_trip(ik, ikid):
    dev = DeviceDukpt.load_initial_key(ik, ikid)
    for _ in range(7):
        dev.next_transaction()
    again = DeviceDukpt.from_state(json.loads(json.dumps(dev.to_state())))
    return again.next_transaction() == dev.next_transaction()


def dukpt_suite(v, suite, ikid):
    s = v[suite]
    bdk, ik = h(s["bdk"]), h(s["initial_key"])
    check(suite + "_ik", lambda: dukpt.derive_initial_key(bdk, ikid) == ik)
    published = {}
    for e in s["transaction_keys"]:
        published[e["counter"]] = h(e["key"])
        name = "{}_txn_{:X}".format(suite, e["counter"])
        if e.get("valid_counter", True):
            check(name, txn_key, ik, ikid, e)
        else:
            check(name, invalid_txn_key, ik, ikid, e)
            check(name + "_refused", expect_code, "out_of_range",
                  dukpt.transaction_key_from_ik, ik, ikid, e["counter"])
    for e in s["working_keys"]:
        name = "{}_{}_{:X}_{}".format(suite, e["usage"], e["counter"], e["path"])
        check(name, working_key, ik, ikid, e)
    check(suite + "_device_first_8", device_walk, ik, ikid, published, [1, 2, 3, 4, 5, 6, 7, 8])
    check(suite + "_device_skips_1FFFF", device_walk, ik, ikid, published,
          [0x1FFFE, 0x20000, 0x20001])
    check(suite + "_device_last_4", device_walk, ik, ikid, published,
          [0xFFFE2000, 0xFFFE4000, 0xFFFE8000, 0xFFFF0000])
    check(suite + "_device_exhausted", last_then_exhausted, ik, ikid)
    msg = h(v["self_computed"]["mac_message"])
    dev = DeviceDukpt.load_initial_key(ik, ikid)
    for e in v["self_computed"]["walk_" + suite]:
        check("self_{}_walk_{}".format(suite, e["counter"]), self_walk_step, dev, e, msg)
    check(suite + "_state_round_trip", round_trip, ik, ikid)


def dukpt_checks():
    v = load("dukpt_aes.json")
    ikid = h(v["initial_key_id"])
    for suite in ("aes128", "aes256"):
        dukpt_suite(v, suite, ikid)
    ik = h(v["aes128"]["initial_key"])
    check("aes128_registers_after_load", lambda: [hx(r) for r in DeviceDukpt.load_initial_key(
        ik, ikid)._regs] == v["aes128"]["registers_after_load"])
    check("parse_ksn_malformed", expect_code, "malformed", dukpt.parse_ksn, bytes(11))


def bench():
    # One terminal transaction: next key, MAC working key, CMAC over 200 bytes.
    ticks = getattr(time, "ticks_us", None)
    now = ticks or (lambda: int(time.time() * 1000000))
    dev = DeviceDukpt.load_initial_key(bytes(16), bytes(8))
    msg, n = bytes(200), 200
    t = now()
    for _ in range(n):
        dev.next_transaction()
        aes_cmac(dev.working_key(dukpt.MAC_GENERATION), msg)
    dt = time.ticks_diff(now(), t) if ticks else now() - t
    print(f"INFO {aes.BACKEND} us_per_transaction {dt // n}")


mac_checks()
dukpt_checks()
bench()
print(f"SUMMARY {RESULTS[0]} {RESULTS[1]}")
if RESULTS[1]:
    sys.exit(1)
