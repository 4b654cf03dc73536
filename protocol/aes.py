# The one place that knows which AES the runtime offers: MicroPython's cryptolib on the
# terminal, the `cryptography` package on the server. Everything else (CMAC, DUKPT) only needs
# single-block AES-ECB encryption, so that is all this shim exposes.
#
# Key sizes: 16 and 32 bytes. MicroPython 1.29's cryptolib refuses 24-byte keys
# (ValueError "key"), so AES-192 is refused here on both runtimes to keep them identical.
#
# No global cache of cipher objects: a cache would keep every past transaction key alive in
# RAM, which defeats DUKPT's forward secrecy. Callers that encrypt several blocks under one key
# (CMAC) build one encryptor with ecb_encryptor() or call cbc_mac(), and drop it when done.

try:
    import cryptolib as _cryptolib  # MicroPython

    def _new_encryptor(key, iv=None):
        # Mode 1, ECB: one object encrypts any number of blocks independently. Mode 2, CBC:
        # the object carries the chain from one call to the next.
        return (_cryptolib.aes(key, 2, iv) if iv else _cryptolib.aes(key, 1)).encrypt

except ImportError:  # CPython
    _cryptolib = None
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    def _new_encryptor(key, iv=None):
        # ECB has no chaining state, so one encryptor context serves every block; a CBC one
        # carries the chain from one call to the next.
        mode = modes.CBC(iv) if iv else modes.ECB()
        return Cipher(algorithms.AES(key), mode).encryptor().update

BLOCK = 16
KEY_SIZES = (16, 32)
BACKEND = "cryptolib" if _cryptolib is not None else "cryptography"


def _check_key(key):
    if not isinstance(key, (bytes, bytearray)):
        raise TypeError("AES key must be bytes")
    if len(key) not in KEY_SIZES:
        raise ValueError("AES key must be 16 or 32 bytes")


def ecb_encryptor(key):
    """Return f(block) -> 16 bytes, encrypting single blocks under `key`."""
    _check_key(key)
    enc = _new_encryptor(bytes(key))

    def encrypt(block):
        if len(block) != BLOCK:
            raise ValueError("AES block must be 16 bytes")
        return bytes(enc(bytes(block)))

    return encrypt


def cbc_mac(key, data):
    """The last block of AES-CBC over `data` (whole blocks) from a zero IV: CMAC's chain in
    one call to the runtime's AES instead of a Python step per block (a debit request is
    about 15 blocks)."""
    _check_key(key)
    if not data or len(data) % BLOCK:
        raise ValueError("CBC-MAC takes whole blocks")
    return bytes(_new_encryptor(bytes(key), bytes(BLOCK))(bytes(data))[-BLOCK:])


def xor_bytes(a, b):
    if len(a) != len(b):
        raise ValueError("xor of unequal lengths")
    n = len(a)
    if n == 0:
        return b""
    # Whole-buffer int XOR: one C-level op on both runtimes instead of a Python loop per byte.
    return (int.from_bytes(bytes(a), "big") ^ int.from_bytes(bytes(b), "big")).to_bytes(n, "big")
