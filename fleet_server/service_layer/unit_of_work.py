"""The unit of work and repositories the services use: abstract here, SQL in adapters/, fakes
in the unit tests."""

import abc

from fleet_server.domain.devices import Device
from fleet_server.domain.partners import Partner
from fleet_server.domain.requests import StoredRequest


class DuplicateRequest(Exception):
    """Another worker stored a result for the same (device, seq) first."""


class DeviceRepository(abc.ABC):
    @abc.abstractmethod
    def get(self, device_id: str) -> Device | None: ...

    @abc.abstractmethod
    def add(self, device: Device) -> None: ...

    @abc.abstractmethod
    def list(self, state: str | None = None, partner_id: str | None = None,
             limit: int = 100, offset: int = 0) -> list[Device]: ...

    @abc.abstractmethod
    def next_derivation_id(self, bdk_id: str) -> int: ...


class PartnerRepository(abc.ABC):
    @abc.abstractmethod
    def get(self, partner_id: str) -> Partner | None: ...

    @abc.abstractmethod
    def add(self, partner: Partner) -> None: ...

    @abc.abstractmethod
    def list(self) -> list[Partner]: ...


class RequestLog(abc.ABC):
    @abc.abstractmethod
    def get(self, device_id: str, seq: int) -> StoredRequest | None: ...

    @abc.abstractmethod
    def add(self, request: StoredRequest) -> None: ...


class UnitOfWork(abc.ABC):
    devices: DeviceRepository
    partners: PartnerRepository
    requests: RequestLog

    def __enter__(self) -> "UnitOfWork":
        return self

    def __exit__(self, *exc) -> None:
        self.rollback()

    @abc.abstractmethod
    def commit(self) -> None:
        """Make the work durable; raises DuplicateRequest when a (device, seq) was stored
        concurrently."""

    @abc.abstractmethod
    def rollback(self) -> None: ...


class RequestStore(abc.ABC):
    """The narrow, fast port of the debit path: one read, one write per request."""

    @abc.abstractmethod
    def load(self, device_id: str, seq: int, original_seq: int | None = None
             ) -> tuple[Device | None, Partner | None, StoredRequest | None,
                        StoredRequest | None]:
        """(device, its partner, the stored request for seq, the stored sale original_seq);
        plain snapshots, changes to them are not saved."""

    @abc.abstractmethod
    def save(self, record: StoredRequest, is_new: bool) -> bytes | None:
        """Store the record and raise the device's highest counter, in one transaction.
        Returns the result bytes another worker stored first for this (device, seq), if any."""
