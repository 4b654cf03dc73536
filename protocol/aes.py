# The one place that knows which AES the runtime offers: MicroPython's cryptolib on the
# terminal, the `cryptography` package on the server. Everything else (CMAC, DUKPT) only needs
# single-block AES-ECB encryption, so that is all this shim exposes.
#
# Key sizes: 16 and 32 bytes. MicroPython 1.29's cryptolib refuses 24-byte keys
# (ValueError "key"), so AES-192 is refused here on both runtimes to keep them identical.
#
# No global cache of cipher objects: a cache would keep every past transaction key alive in
# RAM, which defeats DUKPT's forward secrecy. Callers that encrypt several blocks under one key
# (CMAC) build one encryptor with ecb_encryptor() and drop it when done.

try:
    import cryptolib as _cryptolib  # MicroPython

    _MODE_ECB = 1

    def _new_encryptor(key):
        # One cryptolib ECB object can encrypt any number of blocks independently.
        return _cryptolib.aes(key, _MODE_ECB).encrypt

except ImportError:  # CPython
    _cryptolib = None
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    def _new_encryptor(key):
        # ECB has no chaining state, so one encryptor context serves every block.
        return Cipher(algorithms.AES(key), modes.ECB()).encryptor().update

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


def aes_ecb_encrypt(key, block):
    return ecb_encryptor(key)(block)


def xor_bytes(a, b):
    if len(a) != len(b):
        raise ValueError("xor of unequal lengths")
    n = len(a)
    if n == 0:
        return b""
    # Whole-buffer int XOR: one C-level op on both runtimes instead of a Python loop per byte.
    return (int.from_bytes(bytes(a), "big") ^ int.from_bytes(bytes(b), "big")).to_bytes(n, "big")
