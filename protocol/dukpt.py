# AES-DUKPT, ANSI X9.24-3-2017: one key per transaction, from a Base Derivation Key (BDK) that
# only the server holds.  BDK --IK ID--> Initial Key (IK, loaded at provisioning)
#   --counter bits, high first--> transaction key --usage, type, counter--> working keys.
# The host recomputes any key from the BDK and the KSN; the terminal keeps only 32 intermediate
# derivation key registers and consumes one per transaction, so a terminal stolen today does
# not give away the keys of past transactions.
#
# Counters (section 6.1): only counters with at most MAX_WORK (16) one-bits are used, so the
# host never derives more than 16 times. The X9 reference code derives children when
# one_bits <= MAX_WORK, which lets 17-bit counters such as 0x1FFFF through (the supplement lists
# its key); we derive them only below MAX_WORK, so the device walks exactly the valid counters
# in order, as openemv/dukpt does. Key usages, algorithm indicators and the derivation data
# layout follow section 6.3.2 tables 2 and 3 (as in openemv/dukpt src/dukpt_aes.c).

import binascii

from protocol.aes import ecb_encryptor
from protocol.errors import ProtocolError

KEY_ENCRYPTION_KEY = 0x0002
PIN_ENCRYPTION = 0x1000
MAC_GENERATION = 0x2000
MAC_VERIFICATION = 0x2001
MAC_BOTH = 0x2002
DATA_ENCRYPT = 0x3000
DATA_DECRYPT = 0x3001
DATA_BOTH = 0x3002
KEY_DERIVATION = 0x8000
KEY_DERIVATION_INITIAL_KEY = 0x8001
WORKING_USAGES = (KEY_ENCRYPTION_KEY, PIN_ENCRYPTION, MAC_GENERATION, MAC_VERIFICATION,
                  MAC_BOTH, DATA_ENCRYPT, DATA_DECRYPT, DATA_BOTH)

# Key types: the value is the algorithm indicator written into the derivation data.
KEY_TYPE_2TDEA = 0x0000
KEY_TYPE_3TDEA = 0x0001
KEY_TYPE_AES128 = 0x0002
KEY_TYPE_AES192 = 0x0003
KEY_TYPE_AES256 = 0x0004
KEY_BITS = {KEY_TYPE_2TDEA: 128, KEY_TYPE_3TDEA: 192, KEY_TYPE_AES128: 128,
            KEY_TYPE_AES192: 192, KEY_TYPE_AES256: 256}

DERIVATION_DATA_VERSION = 0x01
NUM_REG = 32
MAX_WORK = 16
COUNTER_MAX = 0xFFFF0000  # the largest 32-bit value with 16 one-bits
IKID_LEN = 8  # 4-byte BDK ID + 4-byte derivation ID
KSN_LEN = 12  # Initial Key ID + 4-byte big-endian counter


def popcount(x):
    return bin(x).count("1")  # int.bit_count does not exist on MicroPython


def _lowest_bit(c):
    # Not c & -c: on a 32-bit board a counter above 2**30 is a long int, keep to non-negatives.
    return c ^ (c & (c - 1))


def is_valid_counter(c):
    return isinstance(c, int) and 0 < c <= COUNTER_MAX and popcount(c) <= MAX_WORK


def next_valid_counter(c):
    """The smallest valid counter above c, or None when the counter space is used up."""
    c += 1
    while c <= COUNTER_MAX:
        if popcount(c) <= MAX_WORK:
            return c
        # Adding the lowest set bit clears a run of ones: no valid counter lies in between.
        c += _lowest_bit(c)
    return None


def _derivation_key_type(key):
    if len(key) == 16:
        return KEY_TYPE_AES128
    if len(key) == 32:
        return KEY_TYPE_AES256
    raise ValueError("DUKPT derivation keys are AES-128 or AES-256")


def _check_ikid(initial_key_id):
    if not isinstance(initial_key_id, (bytes, bytearray)) or len(initial_key_id) != IKID_LEN:
        raise ValueError("initial key ID must be 8 bytes")


def _check_u32(counter):
    # MicroPython's int.to_bytes truncates silently, so range-check before encoding.
    if not isinstance(counter, int) or not 0 <= counter <= 0xFFFFFFFF:
        raise ProtocolError("out_of_range", "DUKPT counter not 32-bit")


def derivation_data(usage, key_type, initial_key_id, counter, block=1):
    """The 16-byte block encrypted to derive a key (X9.24-3 section 6.3.2)."""
    _check_ikid(initial_key_id)
    if key_type not in KEY_BITS:
        raise ValueError("unknown key type")
    d = bytearray(16)
    d[0] = DERIVATION_DATA_VERSION
    d[1] = block  # key block counter: 1, then 2 for the second half of a 192/256-bit key
    d[2:4] = usage.to_bytes(2, "big")
    d[4:6] = key_type.to_bytes(2, "big")
    d[6:8] = KEY_BITS[key_type].to_bytes(2, "big")
    if usage == KEY_DERIVATION_INITIAL_KEY:
        d[8:16] = initial_key_id
    else:
        d[8:12] = initial_key_id[4:8]
        d[12:16] = (counter & 0xFFFFFFFF).to_bytes(4, "big")
    return bytes(d)


def _derive(key, usage, key_type, initial_key_id, counter):
    enc = ecb_encryptor(key)
    nbytes = KEY_BITS[key_type] // 8
    out = b""
    block = 1
    while len(out) < nbytes:
        out += enc(derivation_data(usage, key_type, initial_key_id, counter, block))
        block += 1
    return out[:nbytes]


def derive_initial_key(bdk, initial_key_id):
    return _derive(bdk, KEY_DERIVATION_INITIAL_KEY, _derivation_key_type(bdk), initial_key_id, 0)


def derivation_step(key, initial_key_id, partial_counter):
    """One step of the host walk: the derivation key for `partial_counter` from its parent's
    key (hosts that cache intermediate keys use it to skip the shared high bits)."""
    return _derive(key, KEY_DERIVATION, _derivation_key_type(key), initial_key_id,
                   partial_counter)


def transaction_key_from_ik(ik, initial_key_id, counter, allow_invalid=False):
    """The derivation key for `counter`: one derivation per counter bit, high bit first.
    Counters with more than 16 one-bits are refused unless allow_invalid (test vectors)."""
    _check_ikid(initial_key_id)
    _check_u32(counter)
    if not allow_invalid and not is_valid_counter(counter):
        raise ProtocolError("out_of_range", "DUKPT counter has too many one-bits")
    key_type = _derivation_key_type(ik)
    key = bytes(ik)
    working = 0
    mask = 1 << (NUM_REG - 1)
    while mask:
        if counter & mask:
            working |= mask
            key = _derive(key, KEY_DERIVATION, key_type, initial_key_id, working)
        mask >>= 1
    return key


def host_transaction_key(bdk, initial_key_id, counter, allow_invalid=False):
    ik = derive_initial_key(bdk, initial_key_id)
    return transaction_key_from_ik(ik, initial_key_id, counter, allow_invalid)


def derive_working_key(transaction_key, usage, key_type, initial_key_id, counter):
    if usage not in WORKING_USAGES:
        raise ValueError("not a working key usage")
    _derivation_key_type(transaction_key)
    _check_u32(counter)
    return _derive(transaction_key, usage, key_type, initial_key_id, counter)


def host_working_key(bdk, initial_key_id, counter, usage, key_type=KEY_TYPE_AES128):
    tk = host_transaction_key(bdk, initial_key_id, counter)
    return derive_working_key(tk, usage, key_type, initial_key_id, counter)


def ksn(initial_key_id, counter):
    _check_ikid(initial_key_id)
    _check_u32(counter)
    return bytes(initial_key_id) + counter.to_bytes(4, "big")


def parse_ksn(data):
    """12 wire bytes -> (initial_key_id, counter). The counter's validity is checked when a
    key is derived, so a malformed KSN and a refused counter stay distinct errors."""
    if not isinstance(data, (bytes, bytearray)) or len(data) != KSN_LEN:
        raise ProtocolError("malformed", "KSN must be 12 bytes")
    return bytes(data[:IKID_LEN]), int.from_bytes(bytes(data[IKID_LEN:]), "big")


def _unhex(s, length):
    try:
        b = binascii.unhexlify(s)
    except (ValueError, TypeError):
        b = b""
    if len(b) != length:
        raise ValueError("bad hex field in DUKPT state")
    return b


class DeviceDukpt:
    """The terminal side (X9.24-3 Annex B.6.3). next_transaction() consumes a register and
    advances the state; persist to_state() BEFORE sending anything made with that key, so a
    reboot can never reuse a counter."""

    NUM_REG = NUM_REG  # class attributes so the tests can run the same logic on small widths
    MAX_WORK = MAX_WORK
    STATE_VERSION = 1

    def __init__(self, initial_key_id, key_len, next_counter, registers):
        self.initial_key_id = bytes(initial_key_id)
        self.key_len = key_len
        self.next_counter = next_counter
        self._regs = registers
        self._txn = None  # (counter, transaction key) of the current transaction

    @classmethod
    def load_initial_key(cls, ik, initial_key_id):
        _check_ikid(initial_key_id)
        key_type = _derivation_key_type(ik)
        regs = [None] * cls.NUM_REG
        # Register i holds the key for counter 1 << i, derived straight from the IK, which is
        # then forgotten.
        for i in range(cls.NUM_REG):
            regs[i] = _derive(ik, KEY_DERIVATION, key_type, initial_key_id, 1 << i)
        return cls(initial_key_id, len(ik), 1, regs)

    @property
    def counter(self):
        return self._txn[0] if self._txn else None

    def next_transaction(self):
        c = self.next_counter
        # The largest counter with MAX_WORK one-bits (0xFFFF0000 for the real widths).
        limit = ((1 << self.MAX_WORK) - 1) << (self.NUM_REG - self.MAX_WORK)
        while True:
            if c <= 0 or c > limit:
                self._txn = None
                raise ProtocolError("counter_exhausted", "no DUKPT counter left")
            low = _lowest_bit(c)
            i = popcount(low - 1)  # index of the lowest set bit
            if self._regs[i] is not None:
                break
            c += low  # register already consumed or never derived: skip forward, never back
        key = self._regs[i]
        key_type = _derivation_key_type(key)
        if popcount(c) < self.MAX_WORK:
            # Children c | 1<<j (j < i) have one more bit and are still valid counters.
            for j in range(i - 1, -1, -1):
                self._regs[j] = _derive(key, KEY_DERIVATION, key_type, self.initial_key_id,
                                        c | (1 << j))
            self.next_counter = c + 1
        else:
            self.next_counter = c + low
        self._regs[i] = None
        self._txn = (c, key)
        return c, key

    def working_key(self, usage, key_type=None):
        if self._txn is None:
            raise ValueError("no current DUKPT transaction")
        c, key = self._txn
        if key_type is None:
            key_type = _derivation_key_type(key)
        return derive_working_key(key, usage, key_type, self.initial_key_id, c)

    def ksn(self):
        if self._txn is None:
            raise ValueError("no current DUKPT transaction")
        return ksn(self.initial_key_id, self._txn[0])

    def clear_transaction(self):
        self._txn = None

    def to_state(self):
        # The current transaction key is left out on purpose: after a reboot the terminal
        # starts a new transaction rather than reusing a key.
        return {
            "v": self.STATE_VERSION,
            "ikid": binascii.hexlify(self.initial_key_id).decode(),
            "key_len": self.key_len,
            "counter": self.next_counter,
            "registers": [r and binascii.hexlify(r).decode() for r in self._regs],
        }

    @classmethod
    def from_state(cls, state):
        if not isinstance(state, dict) or state.get("v") != cls.STATE_VERSION:
            raise ValueError("unknown DUKPT state version")
        key_len, counter, regs = state.get("key_len"), state.get("counter"), state.get("registers")
        if (key_len not in (16, 32) or not isinstance(counter, int) or counter < 1
                or not isinstance(regs, list) or len(regs) != cls.NUM_REG):
            raise ValueError("malformed DUKPT state")
        ikid = _unhex(state.get("ikid"), IKID_LEN)
        return cls(ikid, key_len, counter, [None if r is None else _unhex(r, key_len)
                                            for r in regs])
