"""Server-side key material, all derived from the master secret.

- Base Derivation Keys, one per BDK ID: never leave the server (an HSM holds them in a bank; a
  deployment of ours keeps the master secret in its secret store);
- a terminal's Initial Key, from its BDK and Initial Key ID: injected at provisioning, the only
  DUKPT key that ever leaves the server;
- a terminal's command key (HMAC-SHA256) per key version;
- the key of claim-code hashes: a stolen database alone does not let anyone test the 2^40
  claim codes offline.
"""

import hashlib
import hmac
import threading
from collections import OrderedDict
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from protocol import dukpt


class KeyStore:
    def __init__(self, master_secret: str, current_bdk_id: str):
        self._master = master_secret.encode()
        self.current_bdk_id = current_bdk_id.upper()
        # Initial keys are long-lived per terminal; caching them saves one AES derivation and
        # the BDK lookup per request. Transaction keys are never cached.
        self.initial_key = lru_cache(maxsize=50_000)(self._initial_key)
        # Intermediate derivation keys (kid, partial counter) -> key. Consecutive counters
        # share their high bits, so a new counter usually costs one or two AES operations
        # instead of up to seventeen.
        self._steps: OrderedDict = OrderedDict()
        self._steps_max = 200_000
        self._lock = threading.Lock()

    def _kdf(self, label: bytes, length: int) -> bytes:
        return hmac.new(self._master, b"counter-terminal/" + label, hashlib.sha256).digest()[
            :length]

    def bdk(self, bdk_id: str) -> bytes:
        return self._kdf(b"bdk/" + bdk_id.upper().encode(), 16)

    def initial_key_id(self, derivation_id: int, bdk_id: str | None = None) -> str:
        if not 0 < derivation_id < 2**32:
            raise ValueError("derivation ID is a 32-bit number above zero")
        return (bdk_id or self.current_bdk_id).upper() + f"{derivation_id:08X}"

    def _initial_key(self, initial_key_id: str) -> bytes:
        kid = bytes.fromhex(initial_key_id)
        return dukpt.derive_initial_key(self.bdk(initial_key_id[:8]), kid)

    def transaction_key(self, initial_key_id: str, counter: int) -> bytes:
        if not dukpt.is_valid_counter(counter):
            raise ValueError("DUKPT counter has more than 16 one-bits")
        kid_hex = initial_key_id.upper()
        kid = bytes.fromhex(kid_hex)
        key = self.initial_key(kid_hex)
        partial = 0
        for bit in range(31, -1, -1):
            mask = 1 << bit
            if not counter & mask:
                continue
            partial |= mask
            cached = self._steps.get((kid_hex, partial))
            if cached is None:
                cached = dukpt.derivation_step(key, kid, partial)
                with self._lock:
                    self._steps[(kid_hex, partial)] = cached
                    if len(self._steps) > self._steps_max:
                        self._steps.popitem(last=False)
            key = cached
        return key

    def mac_keys(self, initial_key_id: str, counter: int) -> tuple[bytes, bytes]:
        """(request key, result key) of one transaction: MAC generation and verification."""
        tk = self.transaction_key(initial_key_id, counter)
        kid = bytes.fromhex(initial_key_id)
        # dukpt.derive_working_key twice, under one AES context: each AES-128 working key is
        # one block, the transaction key encrypting its derivation data (X9.24-3 6.3.2).
        data = b"".join(dukpt.derivation_data(usage, dukpt.KEY_TYPE_AES128, kid, counter)
                        for usage in (dukpt.MAC_GENERATION, dukpt.MAC_VERIFICATION))
        keys = Cipher(algorithms.AES(tk), modes.ECB()).encryptor().update(data)
        return keys[:16], keys[16:]

    def request_mac_key(self, initial_key_id: str, counter: int) -> bytes:
        return self.mac_keys(initial_key_id, counter)[0]

    def result_mac_key(self, initial_key_id: str, counter: int) -> bytes:
        return self.mac_keys(initial_key_id, counter)[1]

    def broker_password(self, account: str) -> str:
        """A server-side account's password on the embedded broker (derived, never stored)."""
        return self._kdf(b"mqtt/" + account.encode(), 24).hex()

    def command_key(self, device_id: str, key_version: int = 1) -> bytes:
        return self._kdf(f"cmd/{device_id}/{key_version}".encode(), 32)

    def claim_code_hash(self, device_id: str, claim_code: str) -> str:
        """Keyed hash of a (normalised) claim code, bound to its terminal."""
        key = self._kdf(b"claim-code", 32)
        return hmac.new(key, f"{device_id}/{claim_code}".encode(), hashlib.sha256).hexdigest()

    def claim_code_matches(self, device_id: str, claim_code: str, stored_hash: str) -> bool:
        return hmac.compare_digest(self.claim_code_hash(device_id, claim_code),
                                   stored_hash or "")
