"""The crypto vectors (AES, CMAC, HMAC-SHA256, AES DUKPT) and the cost of one terminal
transaction. Portable: pytest runs it on CPython, runner.py on the MicroPython binary, where AES
must come from the firmware's cryptolib (MicroPython-safe code only)."""

import json

from portable import MICROPYTHON, elapsed_us, load_vectors, ticks_us, unhex

from protocol import aes, dukpt
from protocol.cmac import aes_cmac, subkeys
from protocol.dukpt import DeviceDukpt
from protocol.hmac256 import constant_time_equal, hmac_sha256


def raises_code(code, fn, *args):
    try:
        fn(*args)
    except Exception as err:
        assert getattr(err, "code", None) == code, repr(err)
        return
    raise AssertionError("no error raised, expected " + code)


def test_aes_comes_from_cryptolib_on_micropython():
    assert aes.BACKEND == ("cryptolib" if MICROPYTHON else "cryptography"), aes.BACKEND


def test_aes_fips197_and_refuses_192_bit_keys():
    block = unhex("00112233445566778899aabbccddeeff")
    assert aes.ecb_encryptor(bytes(range(16)))(block) == unhex(
        "69c4e0d86a7b0430d8cdb78070b4c55a")
    try:
        aes.ecb_encryptor(bytes(24))(block)
        raise AssertionError("24-byte key accepted")
    except ValueError:
        pass


def test_cbc_mac_is_the_last_block_of_aes_cbc():
    # SP 800-38A F.2.1, CBC-AES128.Encrypt: the last ciphertext block of the four, from the
    # example's IV folded into the first block (cbc_mac starts from a zero IV).
    key = unhex("2b7e151628aed2a6abf7158809cf4f3c")
    iv = unhex("000102030405060708090a0b0c0d0e0f")
    pt = unhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
               "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710")
    first = aes.xor_bytes(pt[:16], iv)
    assert aes.cbc_mac(key, first + pt[16:]) == unhex("3ff1caa1681fac09120eca307586e1a7")
    for bad in (b"", bytes(17)):
        try:
            aes.cbc_mac(key, bad)
            raise AssertionError("partial block accepted")
        except ValueError:
            pass


def test_cmac_subkeys_and_examples():
    v = load_vectors("cmac.json")
    for s in v["subkeys"]:
        assert list(subkeys(unhex(s["key"]))) == [unhex(s["k1"]), unhex(s["k2"])], s["key"]
    for e in v["examples"]:
        assert aes_cmac(unhex(e["key"]), unhex(e["msg"])) == unhex(e["tag"]), e["name"]


def test_hmac_sha256_rfc4231_and_constant_time_equal():
    for c in load_vectors("hmac_sha256.json")["cases"]:
        # Case 5 publishes only the first 16 bytes of the tag.
        tag = hmac_sha256(unhex(c["key"]), unhex(c["data"]))[:c.get("truncate_to", 32)]
        assert tag == unhex(c["mac"]), c["case"]
    assert constant_time_equal(b"abc", b"abc") and constant_time_equal(b"", b"")
    assert not constant_time_equal(b"abc", b"abd") and not constant_time_equal(b"abc", b"ab")


def state_at(ik, ikid, c):
    # Device state just before counter c, built from host derivations.
    low = dukpt.popcount((c ^ (c & (c - 1))) - 1)
    regs = [None] * dukpt.NUM_REG
    for i in range(low, dukpt.NUM_REG):
        k = ((c >> (i + 1)) << (i + 1)) | (1 << i)
        if k >= c and dukpt.popcount(k) <= dukpt.MAX_WORK:
            regs[i] = dukpt.transaction_key_from_ik(ik, ikid, k).hex().upper()
    return {"v": 1, "ikid": ikid.hex().upper(), "key_len": len(ik), "counter": c,
            "registers": regs}


def device_walk(ik, ikid, published, counters):
    dev = DeviceDukpt.from_state(state_at(ik, ikid, counters[0]))
    for want in counters:
        c, key = dev.next_transaction()
        assert (c, key) == (want, published[want]), "counter %X" % c


def check_suite(v, suite):
    s, ikid = v[suite], unhex(v["initial_key_id"])
    bdk, ik = unhex(s["bdk"]), unhex(s["initial_key"])
    assert dukpt.derive_initial_key(bdk, ikid) == ik, suite
    published = {}
    for e in s["transaction_keys"]:
        c = e["counter"]
        published[c] = unhex(e["key"])
        if e.get("valid_counter", True):
            assert dukpt.transaction_key_from_ik(ik, ikid, c) == unhex(e["key"]), "%X" % c
            assert dukpt.ksn(ikid, c) == unhex(e["ksn"]), "%X" % c
        else:
            assert dukpt.transaction_key_from_ik(ik, ikid, c, True) == unhex(e["key"]), "%X" % c
            raises_code("out_of_range", dukpt.transaction_key_from_ik, ik, ikid, c)
    for e in s["working_keys"]:
        c, usage = e["counter"], getattr(dukpt, e["usage"])
        kt = dukpt.KEY_TYPE_AES256 if e["key_type"] == "AES256" else dukpt.KEY_TYPE_AES128
        if e["path"] == "device":
            dev = DeviceDukpt.load_initial_key(ik, ikid)
            while dev.next_transaction()[0] != c:
                pass
            got = dev.working_key(usage, kt)
        else:
            tk = dukpt.transaction_key_from_ik(ik, ikid, c)
            got = dukpt.derive_working_key(tk, usage, kt, ikid, c)
        assert got == unhex(e["key"]), "%s %X %s" % (e["usage"], c, e["path"])
    device_walk(ik, ikid, published, [1, 2, 3, 4, 5, 6, 7, 8])
    device_walk(ik, ikid, published, [0x1FFFE, 0x20000, 0x20001])
    device_walk(ik, ikid, published, [0xFFFE2000, 0xFFFE4000, 0xFFFE8000, 0xFFFF0000])
    last = DeviceDukpt.from_state(state_at(ik, ikid, dukpt.COUNTER_MAX))
    assert last.next_transaction()[0] == dukpt.COUNTER_MAX
    raises_code("counter_exhausted", last.next_transaction)
    msg = unhex(v["self_computed"]["mac_message"])
    dev = DeviceDukpt.load_initial_key(ik, ikid)
    for e in v["self_computed"]["walk_" + suite]:
        c, key = dev.next_transaction()
        mk = dev.working_key(dukpt.MAC_GENERATION)
        assert (c, key, mk, aes_cmac(mk, msg)) == (
            e["counter"], unhex(e["transaction_key"]), unhex(e["mac_generation_key"]),
            unhex(e["cmac"])), "self walk %d" % e["counter"]
    dev = DeviceDukpt.load_initial_key(ik, ikid)
    for _ in range(7):
        dev.next_transaction()
    again = DeviceDukpt.from_state(json.loads(json.dumps(dev.to_state())))
    assert again.next_transaction() == dev.next_transaction()


def test_dukpt_aes128_vectors_device_walks_and_state():
    check_suite(load_vectors("dukpt_aes.json"), "aes128")


def test_dukpt_aes256_vectors_device_walks_and_state():
    check_suite(load_vectors("dukpt_aes.json"), "aes256")


def test_dukpt_registers_after_load_and_malformed_ksn():
    v = load_vectors("dukpt_aes.json")
    dev = DeviceDukpt.load_initial_key(unhex(v["aes128"]["initial_key"]),
                                       unhex(v["initial_key_id"]))
    assert [r.hex().upper() for r in dev._regs] == v["aes128"]["registers_after_load"]
    raises_code("malformed", dukpt.parse_ksn, bytes(11))


def test_one_terminal_transaction_costs():
    # Next key, MAC working key, CMAC over 200 bytes: printed, not judged.
    dev = DeviceDukpt.load_initial_key(bytes(16), bytes(8))
    msg, n = bytes(200), 200
    start = ticks_us()
    for _ in range(n):
        dev.next_transaction()
        aes_cmac(dev.working_key(dukpt.MAC_GENERATION), msg)
    print("INFO %s us_per_transaction %d" % (aes.BACKEND, elapsed_us(start) // n))
