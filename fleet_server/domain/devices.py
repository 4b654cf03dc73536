"""Terminals as the fleet server knows them: life cycle, keys, and the sequence rules state.

Life cycle: provisioned -> assigned (allocated to a partner) -> active (claimed by the partner)
<-> suspended; any state -> retired (final). Only an active, assigned terminal moves money.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from protocol import dukpt

PROVISIONED = "provisioned"
ASSIGNED = "assigned"
ACTIVE = "active"
SUSPENDED = "suspended"
RETIRED = "retired"
STATES = (PROVISIONED, ASSIGNED, ACTIVE, SUSPENDED, RETIRED)

# Which of a terminal's Initial Key IDs a request uses (key_role).
CURRENT_KEY = "current"
PREVIOUS_KEY = "previous"  # the key before the last re-key, accepted until previous_key_until
PENDING_KEY = "pending"  # sent by a re-key command; its first use makes it the current key

# A DUKPT counter at or above this asks for a re-key: past it only counters whose low 20 bits
# hold at most 4 one-bits remain (about 6,200 transactions) before dukpt.COUNTER_MAX.
REKEY_COUNTER = 0xFFF00000
assert REKEY_COUNTER < dukpt.COUNTER_MAX

_ALLOWED = {
    PROVISIONED: {ASSIGNED, RETIRED},
    ASSIGNED: {ACTIVE, PROVISIONED, RETIRED, ASSIGNED},
    ACTIVE: {SUSPENDED, RETIRED, ASSIGNED},
    SUSPENDED: {ACTIVE, RETIRED},
    RETIRED: set(),
}


class DeviceStateError(Exception):
    """A life-cycle change that the current state does not allow."""


class LifecycleRefused(DeviceStateError):
    """An allocation or claim refused for a reason the caller can act on: a stable `code`
    (docs/device-lifecycle.md) and a message for people."""

    def __init__(self, code: str, message: str, device_id: str | None = None):
        super().__init__(message)
        self.code, self.message, self.device_id = code, message, device_id


@dataclass
class Device:
    device_id: str
    model: str
    initial_key_id: str  # hex, 16 digits: BDK ID + derivation ID
    state: str = PROVISIONED
    partner_id: str | None = None
    firmware_version: str | None = None
    key_version: int = 1
    highest_seq: int = 0  # highest DUKPT counter accepted from this terminal
    previous_key_id: str | None = None  # accepted until previous_key_until after a re-key
    previous_key_until: datetime | None = None
    last_seen_at: datetime | None = None
    created_at: datetime | None = None
    claim_code_hash: str | None = None  # keyed hash; the code itself is printed, never stored
    allocated_at: datetime | None = None
    claimed_at: datetime | None = None
    retired_at: datetime | None = None
    pending_key_id: str | None = None  # sent by a re-key command, not yet seen in use
    rekey_sent_at: datetime | None = None
    previous_highest_seq: int | None = None  # highest counter accepted under previous_key_id
    events: list = field(default_factory=list, repr=False, compare=False)

    def _move(self, new_state: str) -> None:
        if new_state not in _ALLOWED[self.state]:
            raise DeviceStateError(f"a {self.state} terminal cannot become {new_state}")
        self.events.append((self.state, new_state))
        self.state = new_state

    def assign(self, partner_id: str) -> None:
        if not partner_id:
            raise DeviceStateError("a terminal is assigned to a partner")
        self._move(ASSIGNED)
        self.partner_id = partner_id

    def allocate(self, partner_id: str, now: datetime) -> None:
        """The operator hands a provisioned terminal to a partner (no silent re-allocation:
        unassign first to move it)."""
        self.check_allocation(partner_id)
        self.assign(partner_id)
        self.allocated_at = now

    def check_allocation(self, partner_id: str) -> None:
        if self.state == RETIRED:
            raise LifecycleRefused("device_retired", f"terminal {self.device_id} is retired",
                                   self.device_id)
        if self.state != PROVISIONED:
            whose = "this partner" if self.partner_id == partner_id else \
                f"partner {self.partner_id}"
            raise LifecycleRefused("already_allocated", f"terminal {self.device_id} is "
                                   f"already allocated to {whose}", self.device_id)

    def claim(self, partner_id: str, now: datetime) -> None:
        """The partner proved it holds the terminal (its claim code): it becomes active.
        The claim code was checked by the caller; partner rights too."""
        if self.state == RETIRED:
            raise LifecycleRefused("device_retired", f"terminal {self.device_id} is retired",
                                   self.device_id)
        if self.claimed_at is not None or self.state in (ACTIVE, SUSPENDED):
            raise LifecycleRefused("already_claimed", f"terminal {self.device_id} is already "
                                   "claimed; its claim code cannot be used again",
                                   self.device_id)
        if self.state != ASSIGNED or self.partner_id is None:
            raise LifecycleRefused("not_allocated", f"terminal {self.device_id} is not "
                                   "allocated to a partner yet; ask the operator",
                                   self.device_id)
        if self.partner_id != partner_id:
            raise LifecycleRefused("allocated_to_other_partner", f"terminal {self.device_id} "
                                   "is allocated to another partner", self.device_id)
        self._move(ACTIVE)
        self.claimed_at = now

    def unassign(self) -> None:
        self._move(PROVISIONED)
        self.partner_id = None

    def activate(self) -> None:
        if self.partner_id is None:
            raise DeviceStateError("assign the terminal to a partner before activating it")
        self._move(ACTIVE)

    def suspend(self) -> None:
        self._move(SUSPENDED)

    def resume(self) -> None:
        self._move(ACTIVE)

    def retire(self, now: datetime | None = None) -> None:
        self._move(RETIRED)
        self.retired_at = now
        self.claim_code_hash = None  # a retired terminal can never be claimed again
        self.pending_key_id = None

    def refusal(self) -> str | None:
        """Why this terminal may not move money now (a protocol error code), or None."""
        if self.state == RETIRED:
            return "device_retired"
        if self.state != ACTIVE or self.partner_id is None:
            return "device_inactive"
        return None

    # ---- keys --------------------------------------------------------------------------------
    def key_role(self, key_id: str, now: datetime) -> str | None:
        """CURRENT_KEY, PREVIOUS_KEY (within its grace period), PENDING_KEY, or None."""
        if key_id == self.initial_key_id:
            return CURRENT_KEY
        if key_id is not None and key_id == self.pending_key_id:
            return PENDING_KEY
        if (self.previous_key_id is not None and key_id == self.previous_key_id
                and self.previous_key_until is not None and now <= self.previous_key_until):
            return PREVIOUS_KEY
        return None

    def accepts_key_id(self, key_id: str, now: datetime) -> bool:
        return self.key_role(key_id, now) is not None

    def highest_seq_for(self, key_id: str) -> int:
        """The highest counter accepted under this key: a new key starts from zero."""
        if key_id == self.initial_key_id:
            return self.highest_seq
        if key_id == self.previous_key_id:
            return self.previous_highest_seq or 0
        return 0

    def accept_seq(self, seq: int, key_id: str | None = None) -> None:
        if key_id in (None, self.initial_key_id):
            self.highest_seq = max(self.highest_seq, seq)
        elif key_id == self.previous_key_id:
            self.previous_highest_seq = max(self.previous_highest_seq or 0, seq)

    def start_rekey(self, new_key_id: str, now: datetime) -> None:
        if self.state == RETIRED:
            raise DeviceStateError("a retired terminal is not re-keyed")
        if new_key_id in (self.initial_key_id, self.previous_key_id):
            raise DeviceStateError("a re-key needs an Initial Key ID the terminal never had")
        self.pending_key_id = new_key_id
        self.rekey_sent_at = now

    def switch_to_pending_key(self, now: datetime, grace: timedelta) -> None:
        """The terminal uses its new key: the old one stays accepted for `grace`, for the
        retransmissions of what it signed before the switch (counters up to its highest now).
        The command key came with the Initial Key: the next version is current too."""
        if self.pending_key_id is None:
            raise DeviceStateError("no re-key in progress")
        self.previous_key_id, self.previous_highest_seq = self.initial_key_id, self.highest_seq
        self.previous_key_until = now + grace
        self.initial_key_id, self.highest_seq = self.pending_key_id, 0
        self.pending_key_id = None
        self.key_version += 1

    def needs_rekey(self, seq: int) -> bool:
        return seq >= REKEY_COUNTER and self.pending_key_id is None and self.state != RETIRED

    def seen(self, now: datetime, firmware_version: str | None = None) -> None:
        self.last_seen_at = now
        if firmware_version:
            self.firmware_version = firmware_version
