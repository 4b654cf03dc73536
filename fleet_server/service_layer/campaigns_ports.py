"""What the update service needs from the outside world (ports), and its plain data: the
rules of a campaign and its target. Adapters: fleet_server/adapters/update_store.py."""

import abc
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime

# A device's state in a campaign: pending (not offered yet), offered (no report yet), then
# what the device reports (protocol.messages.UPDATE_STATES), or timed_out / skipped.
PENDING, OFFERED, TIMED_OUT, SKIPPED = "pending", "offered", "timed_out", "skipped"
IN_FLIGHT = (OFFERED, "queued", "downloading", "verifying", "installing", "rebooting")
GOOD = ("succeeded",)
BAD = ("failed", "rolled_back", "rejected", TIMED_OUT)
FINAL = GOOD + BAD + (SKIPPED,)

RUNNING, PAUSED, CANCELLED, ABORTED, COMPLETED = (
    "running", "paused", "cancelled", "aborted", "completed")
CAMPAIGN_STATES = (RUNNING, PAUSED, CANCELLED, ABORTED, COMPLETED)
_ID = re.compile(r"^[0-9A-Za-z._-]{1,32}$")


class CampaignError(ValueError):
    """A request the campaign service refuses (unknown release, bad rules, bad state)."""


@dataclass
class Rules:
    max_per_minute: int = 60  # pacing: at most this many offers in any minute
    base_per_minute: int = 5  # the first minute's rate, multiplied by `ramp` every minute
    ramp: float = 2.0
    start_delay_s: int = 0  # each device waits a random 0..start_delay_s before downloading
    failure_threshold: float = 0.2  # abort when failures / finished passes this...
    min_devices: int = 10  # ...once at least this many devices have finished
    device_timeout_s: int = 900  # a device stuck this long in one state times out
    max_retries: int = 1  # offers again after a timeout or failure, per device
    allow_downgrade: bool = False
    offer_ttl_s: int = 3600  # the device refuses an offer older than this

    def check(self) -> "Rules":
        if not (1 <= self.max_per_minute <= 100_000 and 1 <= self.base_per_minute
                <= self.max_per_minute and 1.0 <= self.ramp <= 100):
            raise CampaignError("pacing: 1 <= base <= max per minute, ramp from 1 to 100")
        if not (0 <= self.start_delay_s <= 86400 and 0 <= self.failure_threshold <= 1
                and 1 <= self.min_devices and 10 <= self.device_timeout_s <= 7 * 86400
                and 0 <= self.max_retries <= 10 and 60 <= self.offer_ttl_s <= 7 * 86400):
            raise CampaignError("rules out of range (see docs/updates.md)")
        return self

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Target:
    all: bool = False
    partner: str | None = None
    model: str | None = None
    firmware: str | None = None
    devices: list[str] = field(default_factory=list)
    percent: int = 100  # a stable sample of what the above selects

    def check(self) -> "Target":
        chosen = [self.all, bool(self.partner), bool(self.model), bool(self.firmware),
                  bool(self.devices)]
        if sum(chosen) != 1:
            raise CampaignError("target exactly one of: all, partner, model, firmware, devices")
        if not 1 <= self.percent <= 100:
            raise CampaignError("percent is 1 to 100")
        if len(self.devices) > 100_000:
            raise CampaignError("too many devices in the list")
        return self

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FleetDevice:
    device_id: str
    model: str
    partner_id: str | None
    firmware_version: str | None
    key_version: int


def check_campaign_id(value: str) -> str:
    if not _ID.match(value or ""):
        raise CampaignError("a campaign id is 1-32 of [0-9A-Za-z._-]")
    return value


class ReleaseStore(abc.ABC):
    @abc.abstractmethod
    def has_blob(self, sha: str) -> bool: ...

    @abc.abstractmethod
    def get_blob(self, sha: str) -> bytes | None: ...

    @abc.abstractmethod
    def add_release(self, doc: dict, manifest: bytes, signature: str,
                    blobs: dict[str, bytes], now: datetime) -> None: ...

    @abc.abstractmethod
    def get_release(self, version: str) -> dict | None:
        """{"version", "manifest", "manifest_sha", "signature", "models", ...} or None."""

    @abc.abstractmethod
    def set_rollback(self, version: str, signature: str) -> None:
        """Keep the (checked) rollback statement's signature with the release."""

    @abc.abstractmethod
    def latest_version(self) -> str | None: ...

    @abc.abstractmethod
    def list_releases(self) -> list[dict]: ...


class CampaignStore(abc.ABC):
    @abc.abstractmethod
    def add_campaign(self, campaign: dict, device_ids: list[str]) -> None: ...

    @abc.abstractmethod
    def get_campaign(self, campaign_id: str) -> dict | None: ...

    @abc.abstractmethod
    def list_campaigns(self, states: tuple[str, ...] | None = None) -> list[dict]: ...

    @abc.abstractmethod
    def set_campaign(self, campaign_id: str, **fields) -> None: ...

    @abc.abstractmethod
    def devices(self, campaign_id: str, states: tuple[str, ...] | None = None,
                limit: int | None = None) -> list[dict]: ...

    @abc.abstractmethod
    def device(self, campaign_id: str, device_id: str) -> dict | None: ...

    @abc.abstractmethod
    def set_device(self, campaign_id: str, device_id: str, **fields) -> None: ...

    @abc.abstractmethod
    def counts(self, campaign_id: str) -> dict[str, int]: ...

    @abc.abstractmethod
    def offered_since(self, campaign_id: str, since: datetime) -> int: ...


class DeviceDirectory(abc.ABC):
    @abc.abstractmethod
    def select(self, target: Target) -> list[FleetDevice]: ...

    @abc.abstractmethod
    def get(self, device_id: str) -> FleetDevice | None: ...

    @abc.abstractmethod
    def online(self, device_id: str) -> bool: ...
