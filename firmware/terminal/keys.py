# The terminal's secrets on flash: the DUKPT future-key registers (dukpt.json) and the device
# command key (device.json). Provisioning writes the Initial Key into device.json; the first
# load turns it into the 32 registers and removes it, so the flash never keeps the IK.
# Every transaction persists the advanced DUKPT state BEFORE its keys are handed out, so a
# reboot can never reuse a counter (docs/protocol.md section 7).
# A re-key (install_key) takes the same path as provisioning: device.json is replaced atomically
# with the new IK ID, IK and command key, then the IK is turned into registers; until that write
# the old keys are whole, after it a reboot finishes the install (docs/device-lifecycle.md).

import binascii

from protocol import dukpt, exchange
from protocol.errors import ProtocolError
from terminal import store

DEVICE_FILE = "/device.json"
DUKPT_FILE = "/dukpt.json"
_SECRET_FIELDS = ("initial_key", "command_key")


def _unhex(text, length, name):
    try:
        data = binascii.unhexlify(text)
    except Exception:  # not a string, odd length, bad digit
        data = b""
    if len(data) != length:
        raise ValueError("device.json: bad " + name)
    return data


def provision(root, device_id, initial_key_id, initial_key_hex, command_key_hex, extra=None):
    """Write device.json as key injection would (tests and the simulator use it)."""
    store.ensure_dir(root)
    cfg = {}
    if extra:
        for k in extra:
            cfg[k] = extra[k]
    cfg["device_id"] = device_id
    cfg["initial_key_id"] = initial_key_id.lower()
    cfg["initial_key"] = initial_key_hex.lower()
    cfg["command_key"] = command_key_hex.lower()
    store.save_json(root + DEVICE_FILE, cfg)


def _binom_row(n):
    # Pascal's triangle row n (MicroPython has no math.comb).
    row = [1]
    for _ in range(n):
        row = [1] + [row[i] + row[i + 1] for i in range(len(row) - 1)] + [1]
    return row


def _valid_below(n):
    """How many counters 1..n-1 have at most MAX_WORK one-bits."""
    total = 0
    ones = 0
    for i in range(31, -1, -1):
        if n & (1 << i):
            budget = dukpt.MAX_WORK - ones  # the remaining i low bits may hold this many ones
            if budget >= 0:
                row = _binom_row(i)
                total += sum(row[:budget + 1])
            ones += 1
    return total - 1  # counter 0 is not a counter


class KeyVault:
    def __init__(self, root):
        self.root = root
        self._device_path = root + DEVICE_FILE
        self._dukpt_path = root + DUKPT_FILE
        cfg = store.load_json(self._device_path)
        if not isinstance(cfg, dict) or not isinstance(cfg.get("device_id"), str):
            raise ValueError("device.json missing or corrupt")
        ikid = _unhex(cfg.get("initial_key_id"), dukpt.IKID_LEN, "initial_key_id")
        self._command_key = _unhex(cfg.get("command_key"), 32, "command_key")
        self._cfg = cfg
        self._dukpt = self._load_dukpt(ikid)

    provision = staticmethod(provision)

    def _load_dukpt(self, ikid):
        state = store.load_json(self._dukpt_path)
        dev = None
        if state is not None:
            try:
                dev = dukpt.DeviceDukpt.from_state(state)
            except ValueError:
                dev = None
        if dev is not None and dev.initial_key_id != ikid:
            dev = None  # registers of an older key: a new IK ID means a new Initial Key
        ik_hex = self._cfg.get("initial_key")
        if ik_hex is not None:
            if dev is None:
                ik_len = len(ik_hex) // 2 if isinstance(ik_hex, str) else 0
                ik = _unhex(ik_hex, ik_len, "initial_key")
                dev = dukpt.DeviceDukpt.load_initial_key(ik, ikid)
                # Registers first, then forget the IK: a crash in between finds valid
                # registers for this IK ID above and never reloads the IK (that would rewind
                # the counter).
                store.save_json(self._dukpt_path, dev.to_state())
            cfg = {}
            for k in self._cfg:
                if k != "initial_key":
                    cfg[k] = self._cfg[k]
            store.save_json(self._device_path, cfg)
            self._cfg = cfg
        if dev is None:
            raise ValueError("no DUKPT state and no initial key")
        return dev

    @property
    def device_id(self):
        return self._cfg["device_id"]

    @property
    def kid(self):
        return binascii.hexlify(self._dukpt.initial_key_id).decode()

    @property
    def command_key(self):
        return self._command_key

    @property
    def info(self):
        out = {}
        for k in self._cfg:
            if k not in _SECRET_FIELDS:
                out[k] = self._cfg[k]
        return out

    def next_transaction(self):
        """-> (seq, request MAC key, result MAC key); the state is on flash before this returns.
        Raises ProtocolError("counter_exhausted") when the key is used up."""
        seq, request_key, result_key = exchange.transaction_keys(self._dukpt)
        store.save_json(self._dukpt_path, self._dukpt.to_state())
        return seq, request_key, result_key

    def install_key(self, initial_key_id_hex, initial_key, issued_ts, command_key):
        """Make a new Initial Key and command key current (a "rekey" command). -> True when
        installed, False when it already is (a repeated command). ProtocolError("replay") for a
        command older than the one that installed the current key (a captured command played
        back)."""
        ikid = _unhex(initial_key_id_hex, dukpt.IKID_LEN, "initial_key_id")
        if len(initial_key) not in (16, 32) or len(command_key) != 32:
            raise ValueError("initial key of a bad length")
        if ikid == self._dukpt.initial_key_id:
            return False
        last = self._cfg.get("key_ts")
        if type(issued_ts) is not int or (type(last) is int and issued_ts <= last):
            raise ProtocolError("replay", "re-key older than the key in use")
        cfg = {}
        for k in self._cfg:
            cfg[k] = self._cfg[k]
        cfg["initial_key_id"] = binascii.hexlify(ikid).decode()
        cfg["initial_key"] = binascii.hexlify(initial_key).decode()
        cfg["command_key"] = binascii.hexlify(command_key).decode()
        cfg["key_ts"] = issued_ts
        store.save_json(self._device_path, cfg)  # the commit point of the re-key
        self._cfg = cfg
        self._command_key = command_key
        self._dukpt = self._load_dukpt(ikid)  # registers, then the IK leaves device.json
        return True

    def counter_left(self):
        """Roughly how many transactions remain (consumed registers are not subtracted)."""
        try:
            n = self._dukpt.next_counter
            if n > dukpt.COUNTER_MAX:
                return 0
            return _valid_below(dukpt.COUNTER_MAX + 1) - _valid_below(n)
        except Exception:  # diagnostics only: never fail the caller
            return None
