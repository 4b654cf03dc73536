"""Terminals as the fleet server knows them: life cycle, keys, and the sequence rules state.

Life cycle: provisioned -> assigned (allocated to a partner) -> active (claimed by the partner)
<-> suspended; any state -> retired (final). Only an active, assigned terminal moves money.
"""

from dataclasses import dataclass, field
from datetime import datetime

PROVISIONED = "provisioned"
ASSIGNED = "assigned"
ACTIVE = "active"
SUSPENDED = "suspended"
RETIRED = "retired"
STATES = (PROVISIONED, ASSIGNED, ACTIVE, SUSPENDED, RETIRED)

_ALLOWED = {
    PROVISIONED: {ASSIGNED, RETIRED},
    ASSIGNED: {ACTIVE, PROVISIONED, RETIRED, ASSIGNED},
    ACTIVE: {SUSPENDED, RETIRED, ASSIGNED},
    SUSPENDED: {ACTIVE, RETIRED},
    RETIRED: set(),
}


class DeviceStateError(Exception):
    """A life-cycle change that the current state does not allow."""


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

    def retire(self) -> None:
        self._move(RETIRED)

    def refusal(self) -> str | None:
        """Why this terminal may not move money now (a protocol error code), or None."""
        if self.state != ACTIVE or self.partner_id is None:
            return "device_inactive"
        return None

    def accepts_key_id(self, key_id: str, now: datetime) -> bool:
        if key_id == self.initial_key_id:
            return True
        return (self.previous_key_id is not None and key_id == self.previous_key_id
                and self.previous_key_until is not None and now <= self.previous_key_until)

    def accept_seq(self, seq: int) -> None:
        if seq > self.highest_seq:
            self.highest_seq = seq

    def seen(self, now: datetime, firmware_version: str | None = None) -> None:
        self.last_seen_at = now
        if firmware_version:
            self.firmware_version = firmware_version
