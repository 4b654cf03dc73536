# AES-CMAC, NIST SP 800-38B (identical to RFC 4493 for AES-128), full 16-byte tag.
# Truncation, if a message format wants it, is the caller's business: verify with
# hmac256.constant_time_equal on the truncated bytes.
#
# Blocks are handled as 128-bit ints: XOR and shift are then single operations on both
# runtimes, which matters on the terminal where a per-byte Python loop is slow.

from protocol.aes import BLOCK, cbc_mac, ecb_encryptor

_MASK = (1 << 128) - 1
_RB = 0x87  # the constant R_128 of SP 800-38B section 5.3


def _dbl(x):
    # Multiplication by x in GF(2^128): shift left, fold the carried-out bit back with R_b.
    if x >> 127:
        return ((x << 1) & _MASK) ^ _RB
    return x << 1


def subkeys(key):
    """K1, K2 as 16-byte strings (exposed for the SP 800-38B subkey test vectors)."""
    enc = ecb_encryptor(key)
    k1 = _dbl(int.from_bytes(enc(bytes(BLOCK)), "big"))
    k2 = _dbl(k1)
    return k1.to_bytes(BLOCK, "big"), k2.to_bytes(BLOCK, "big")


def aes_cmac(key, msg):
    enc = ecb_encryptor(key)
    msg = bytes(msg)
    k1 = _dbl(int.from_bytes(enc(bytes(BLOCK)), "big"))
    n = len(msg)
    if n and n % BLOCK == 0:
        last = int.from_bytes(msg[n - BLOCK:], "big") ^ k1
        body = n - BLOCK
    else:
        body = n - n % BLOCK
        tail = msg[body:] + b"\x80" + bytes(BLOCK - 1 - (n - body))
        last = int.from_bytes(tail, "big") ^ _dbl(k1)
    # The CBC chain over the whole blocks and the last one (xored with its subkey) is the tag.
    return cbc_mac(key, msg[:body] + last.to_bytes(BLOCK, "big"))
