"""Server-side key material, all derived from the master secret.

- Base Derivation Keys, one per BDK ID: never leave the server (an HSM holds them in a bank; a
  deployment of ours keeps the master secret in its secret store);
- a terminal's Initial Key, from its BDK and Initial Key ID: injected at provisioning, the only
  DUKPT key that ever leaves the server;
- a terminal's command key (HMAC-SHA256) per key version.
"""

import hashlib
import hmac
from functools import lru_cache

from protocol import auth, dukpt, messages


class KeyStore:
    def __init__(self, master_secret: str, current_bdk_id: str):
        self._master = master_secret.encode()
        self.current_bdk_id = current_bdk_id.upper()
        # Initial keys are long-lived per terminal; caching them saves one AES derivation and
        # the BDK lookup per request. Transaction keys are never cached.
        self.initial_key = lru_cache(maxsize=50_000)(self._initial_key)

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

    def request_mac_key(self, initial_key_id: str, counter: int) -> bytes:
        return self._mac_key(initial_key_id, counter, messages.DUKPT_REQUEST)

    def result_mac_key(self, initial_key_id: str, counter: int) -> bytes:
        return self._mac_key(initial_key_id, counter, messages.DUKPT_RESULT)

    def _mac_key(self, initial_key_id: str, counter: int, scheme: str) -> bytes:
        return auth.dukpt_mac_key_from_ik(self.initial_key(initial_key_id.upper()),
                                          bytes.fromhex(initial_key_id), counter, scheme)

    def command_key(self, device_id: str, key_version: int = 1) -> bytes:
        return self._kdf(f"cmd/{device_id}/{key_version}".encode(), 32)
