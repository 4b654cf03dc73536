import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import dukpt
from protocol.cmac import aes_cmac
from protocol.dukpt import DeviceDukpt
from protocol.errors import ProtocolError

V = json.loads((Path(__file__).resolve().parents[3] / "protocol" / "vectors"
                / "dukpt_aes.json").read_text())
IKID = bytes.fromhex(V["initial_key_id"])
SUITES = ("aes128", "aes256")
KEY_TYPES = {"AES128": dukpt.KEY_TYPE_AES128, "AES256": dukpt.KEY_TYPE_AES256}
h = bytes.fromhex


def _entries(field):
    return [(s, e) for s in SUITES for e in V[s][field]]


def _id(p):
    s, e = p
    dev = "-dev" if e.get("path") == "device" else ""
    return f"{s}-{e.get('usage', 'txn')}-{e['counter']:X}{dev}"


def _ik(suite):
    return h(V[suite]["initial_key"])


def state_at(ik, ikid, c, num_reg=dukpt.NUM_REG, max_work=dukpt.MAX_WORK):
    """Test oracle: the device state just before counter c, built from host derivations.
    Register i >= lowest bit of c holds the key of c with bits <= i replaced by bit i, if that
    counter is still ahead and valid (test_state_oracle_matches_the_device proves it)."""
    low = (c & -c).bit_length() - 1
    regs = [None] * num_reg
    for i in range(low, num_reg):
        k = ((c >> (i + 1)) << (i + 1)) | (1 << i)
        if k >= c and dukpt.popcount(k) <= max_work:
            regs[i] = dukpt.transaction_key_from_ik(ik, ikid, k, allow_invalid=True).hex()
    return {"v": 1, "ikid": ikid.hex(), "key_len": len(ik), "counter": c, "registers": regs}


def test_every_vector_names_a_listed_source():
    ids = {s["id"] for s in V["source"]}
    assert all(s["repository"] and s["path"] for s in V["source"])
    used = {V[s]["initial_key_src"] for s in SUITES} | {V["aes128"]["registers_after_load_src"]}
    used |= {e["src"] for _, e in _entries("transaction_keys") + _entries("working_keys")}
    assert used <= ids


def test_constants_are_the_standard_values():
    assert (dukpt.KEY_ENCRYPTION_KEY, dukpt.PIN_ENCRYPTION, dukpt.MAC_GENERATION,
            dukpt.MAC_VERIFICATION, dukpt.MAC_BOTH, dukpt.DATA_ENCRYPT, dukpt.DATA_DECRYPT,
            dukpt.DATA_BOTH, dukpt.KEY_DERIVATION, dukpt.KEY_DERIVATION_INITIAL_KEY) == (
        0x0002, 0x1000, 0x2000, 0x2001, 0x2002, 0x3000, 0x3001, 0x3002, 0x8000, 0x8001)
    assert (dukpt.NUM_REG, dukpt.MAX_WORK, dukpt.COUNTER_MAX) == (32, 16, 0xFFFF0000)
    # The X9.24-3 B.1 initial key derivation data, as published with the IK.
    dd = dukpt.derivation_data(dukpt.KEY_DERIVATION_INITIAL_KEY, dukpt.KEY_TYPE_AES128, IKID, 0)
    assert dd.hex().upper() == "01018001000200801234567890123456"


@pytest.mark.parametrize("suite", SUITES)
def test_initial_key(suite):
    assert dukpt.derive_initial_key(h(V[suite]["bdk"]), IKID) == _ik(suite)


@pytest.mark.parametrize("p", _entries("transaction_keys"), ids=_id)
def test_host_transaction_keys(p):
    suite, e = p
    c, want = e["counter"], h(e["key"])
    assert dukpt.ksn(IKID, c).hex().upper() == e["ksn"]
    assert dukpt.parse_ksn(h(e["ksn"])) == (IKID, c)
    if e.get("valid_counter", True):
        assert dukpt.is_valid_counter(c)
        assert dukpt.transaction_key_from_ik(_ik(suite), IKID, c) == want
        assert dukpt.host_transaction_key(h(V[suite]["bdk"]), IKID, c) == want
    else:
        assert not dukpt.is_valid_counter(c)
        with pytest.raises(ProtocolError) as err:
            dukpt.transaction_key_from_ik(_ik(suite), IKID, c)
        assert err.value.code == "out_of_range"
        assert dukpt.transaction_key_from_ik(_ik(suite), IKID, c, allow_invalid=True) == want


@pytest.mark.parametrize("p", _entries("working_keys"), ids=_id)
def test_working_keys(p):
    suite, e = p
    c, usage, kt = e["counter"], getattr(dukpt, e["usage"]), KEY_TYPES[e["key_type"]]
    if e["path"] == "device":
        dev = DeviceDukpt.load_initial_key(_ik(suite), IKID)
        while dev.next_transaction()[0] != c:
            pass
        assert dev.working_key(usage, kt) == h(e["key"])
        return
    assert dukpt.host_working_key(h(V[suite]["bdk"]), IKID, c, usage, kt) == h(e["key"])
    if "derivation_key" in e:
        dk = dukpt.transaction_key_from_ik(_ik(suite), IKID, c)
        assert dk == h(e["derivation_key"])
        assert dukpt.derive_working_key(dk, usage, kt, IKID, c) == h(e["key"])
    if "derivation_data" in e:
        assert dukpt.derivation_data(usage, kt, IKID, c).hex().upper() == e["derivation_data"]
    if "derivation_data_block2" in e:  # CEX prints the data as left after the second block
        dd = dukpt.derivation_data(usage, kt, IKID, c, block=2)
        assert dd.hex().upper() == e["derivation_data_block2"]


def test_registers_after_load():
    dev = DeviceDukpt.load_initial_key(_ik("aes128"), IKID)
    regs = [r.upper() for r in dev.to_state()["registers"]]
    assert regs == V["aes128"]["registers_after_load"]


@pytest.mark.parametrize("suite", SUITES)
def test_device_walk_gives_the_published_first_keys(suite):
    dev = DeviceDukpt.load_initial_key(_ik(suite), IKID)
    first = [e for e in V[suite]["transaction_keys"] if e["counter"] <= 8]
    for e in first:
        c, key = dev.next_transaction()
        assert (c, key) == (e["counter"], h(e["key"]))
        assert dev.ksn().hex().upper() == e["ksn"]


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("start,expected", [(0x1FFFE, [0x1FFFE, 0x20000, 0x20001]),
                                            (0xFFFE2000, [0xFFFE2000, 0xFFFE4000, 0xFFFE8000,
                                                          0xFFFF0000])])
def test_device_skips_0x1ffff_and_ends_at_0xffff0000(suite, start, expected):
    published = {e["counter"]: h(e["key"]) for e in V[suite]["transaction_keys"]}
    dev = DeviceDukpt.from_state(state_at(_ik(suite), IKID, start))
    for want in expected:
        c, key = dev.next_transaction()
        assert (c, key) == (want, published[want])
    if expected[-1] == dukpt.COUNTER_MAX:
        with pytest.raises(ProtocolError) as err:
            dev.next_transaction()
        assert err.value.code == "counter_exhausted"


@pytest.mark.parametrize("suite", SUITES)
def test_self_computed_walks(suite):
    sc = V["self_computed"]
    msg, bdk = h(sc["mac_message"]), h(V[suite]["bdk"])
    dev = DeviceDukpt.load_initial_key(_ik(suite), IKID)
    for e in sc["walk_" + suite]:
        c, key = dev.next_transaction()
        assert c == e["counter"] and key == h(e["transaction_key"])
        assert key == dukpt.host_transaction_key(bdk, IKID, c)
        mk = dev.working_key(dukpt.MAC_GENERATION)
        assert mk == h(e["mac_generation_key"]) == dukpt.derive_working_key(
            key, dukpt.MAC_GENERATION, dukpt.KEY_TYPE_AES128 if suite == "aes128"
            else dukpt.KEY_TYPE_AES256, IKID, c)
        assert aes_cmac(mk, msg) == h(e["cmac"])


# -- counter rules ---------------------------------------------------------------------------

def test_counter_validity():
    assert [dukpt.is_valid_counter(c) for c in (0, 1, 0xFFFF, 0x1FFFF, 0xFFFF0000, 0xFFFF0001,
                                                0xFFFFFFFF, 2**32, -1)] == [
        False, True, True, False, True, False, False, False, False]
    assert dukpt.next_valid_counter(0) == 1
    assert dukpt.next_valid_counter(0x1FFFE) == 0x20000
    assert dukpt.next_valid_counter(0x7FFF8000) == 0x80000000
    assert dukpt.next_valid_counter(0xFFFE8000) == 0xFFFF0000
    assert dukpt.next_valid_counter(dukpt.COUNTER_MAX) is None


@settings(max_examples=150, deadline=None)
@given(st.integers(0, dukpt.COUNTER_MAX - 1))
def test_next_valid_counter_skips_exactly_the_invalid_ones(c):
    r = dukpt.next_valid_counter(c)
    assert r > c and dukpt.is_valid_counter(r)
    assert all(bin(x).count("1") > dukpt.MAX_WORK for x in range(c + 1, r))


@pytest.mark.parametrize("num_reg,max_work", [(6, 2), (8, 3), (9, 9), (7, 1), (10, 4)])
def test_small_widths_walk_every_valid_counter_then_stop(num_reg, max_work):
    # Same code, narrower counter: the whole life of a device fits in a test.
    class Narrow(DeviceDukpt):
        NUM_REG, MAX_WORK = num_reg, max_work

    ik = bytes(range(16))
    dev = Narrow.load_initial_key(ik, IKID)
    seen = []
    while True:
        state = dev.to_state()
        assert state == state_at(ik, IKID, dev.next_counter, num_reg, max_work) or (
            dev.next_counter > max(seen))  # the oracle is undefined once exhausted
        try:
            c, key = dev.next_transaction()
        except ProtocolError as err:
            assert err.code == "counter_exhausted"
            break
        assert key == dukpt.transaction_key_from_ik(ik, IKID, c, allow_invalid=True)
        seen.append(c)
        dev = Narrow.from_state(json.loads(json.dumps(dev.to_state())))
    assert seen == [c for c in range(1, 1 << num_reg) if bin(c).count("1") <= max_work]
    with pytest.raises(ProtocolError):
        Narrow.from_state(dev.to_state()).next_transaction()


valid_counters = st.integers(1, dukpt.COUNTER_MAX).filter(dukpt.is_valid_counter)


@settings(max_examples=25, deadline=None)
@given(ik=st.binary(min_size=16, max_size=16), ikid=st.binary(min_size=8, max_size=8),
       start=valid_counters)
def test_device_and_host_agree_on_a_walk_from_any_valid_counter(ik, ikid, start):
    dev = DeviceDukpt.from_state(state_at(ik, ikid, start))
    expect = start
    for step in range(300):
        if expect is None:
            with pytest.raises(ProtocolError):
                dev.next_transaction()
            return
        c, key = dev.next_transaction()
        assert c == expect
        if step % 25 == 0:  # host side is the slow one: sample it
            assert key == dukpt.transaction_key_from_ik(ik, ikid, c)
            assert dev.working_key(dukpt.MAC_GENERATION) == dukpt.derive_working_key(
                key, dukpt.MAC_GENERATION, dukpt.KEY_TYPE_AES128, ikid, c)
        expect = dukpt.next_valid_counter(c)


@settings(max_examples=10, deadline=None)
@given(ik=st.binary(min_size=32, max_size=32), n=st.integers(1, 300))
def test_aes256_device_matches_host(ik, n):
    dev = DeviceDukpt.load_initial_key(ik, IKID)
    for _ in range(n):
        c, key = dev.next_transaction()
    assert c == n and len(key) == 32
    assert key == dukpt.transaction_key_from_ik(ik, IKID, c)


# -- persisted state ---------------------------------------------------------------------------

def test_state_round_trip_is_json_and_leaves_out_the_current_key():
    dev = DeviceDukpt.load_initial_key(_ik("aes128"), IKID)
    for _ in range(5):
        dev.next_transaction()
    c, key = dev.next_transaction()
    text = json.dumps(dev.to_state())
    assert key.hex() not in text and dev.ksn() == dukpt.ksn(IKID, c)
    again = DeviceDukpt.from_state(json.loads(text))
    assert again.to_state() == dev.to_state()
    with pytest.raises(ValueError):
        again.working_key(dukpt.MAC_GENERATION)  # a reboot starts a new transaction
    assert again.next_transaction() == dev.next_transaction()


@pytest.mark.parametrize("patch", [{"v": 2}, {"key_len": 24}, {"counter": 0}, {"counter": "1"},
                                   {"ikid": "zz" * 8}, {"ikid": "00"}, {"registers": []},
                                   {"registers": ["00"] + [None] * 31}])
def test_from_state_refuses_damaged_state(patch):
    state = DeviceDukpt.load_initial_key(_ik("aes128"), IKID).to_state()
    state.update(patch)
    with pytest.raises(ValueError):
        DeviceDukpt.from_state(state)


def test_bad_inputs():
    with pytest.raises(ValueError):
        dukpt.derive_initial_key(bytes(24), IKID)  # no AES-192 on MicroPython
    with pytest.raises(ValueError):
        dukpt.derive_initial_key(bytes(16), IKID[:7])
    with pytest.raises(ValueError):
        dukpt.derive_working_key(bytes(16), dukpt.KEY_DERIVATION, dukpt.KEY_TYPE_AES128, IKID, 1)
    with pytest.raises(ProtocolError) as err:
        dukpt.parse_ksn(bytes(10))
    assert err.value.code == "malformed"
    for bad in (0, 2**32):
        with pytest.raises(ProtocolError):
            dukpt.transaction_key_from_ik(bytes(16), IKID, bad)
    with pytest.raises(ValueError):
        DeviceDukpt.load_initial_key(bytes(16), IKID).working_key(dukpt.MAC_GENERATION)
