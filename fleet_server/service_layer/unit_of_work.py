"""The unit of work and repositories the services use: abstract here, SQL in adapters/, fakes
in the unit tests."""

import abc
from contextlib import AbstractContextManager
from datetime import datetime
from typing import NamedTuple

from fleet_server.domain.devices import Device
from fleet_server.domain.partners import Partner
from fleet_server.domain.requests import StoredRequest
from fleet_server.ledger.port import Ledger


class DuplicateRequest(Exception):
    """Another worker stored a result for the same (device, seq) first."""


class DeviceRepository(abc.ABC):
    @abc.abstractmethod
    def get(self, device_id: str, lock: bool = False) -> Device | None:
        """lock: hold the row until the unit of work ends (SELECT ... FOR UPDATE), so that two
        concurrent life-cycle changes of one terminal (two claims) run one after the other."""

    @abc.abstractmethod
    def add(self, device: Device) -> None: ...

    @abc.abstractmethod
    def list(self, state: str | None = None, partner_id: str | None = None,
             limit: int = 100, offset: int = 0) -> list[Device]: ...

    @abc.abstractmethod
    def next_derivation_id(self, bdk_id: str) -> int: ...


class PartnerRepository(abc.ABC):
    @abc.abstractmethod
    def get(self, partner_id: str, lock: bool = False) -> Partner | None:
        """lock: as DeviceRepository.get (claims of one partner, counted, run in turn)."""

    @abc.abstractmethod
    def add(self, partner: Partner) -> None: ...

    @abc.abstractmethod
    def list(self) -> list[Partner]: ...


class RequestLog(abc.ABC):
    @abc.abstractmethod
    def get(self, device_id: str, key_id: str, seq: int) -> StoredRequest | None: ...

    @abc.abstractmethod
    def add(self, request: StoredRequest) -> None: ...


class ClaimFailureLog(abc.ABC):
    """Failed claim attempts, to bound guessing of claim codes per partner."""

    @abc.abstractmethod
    def add(self, partner_id: str, device_id: str | None, code: str, at: datetime) -> None: ...

    @abc.abstractmethod
    def count_since(self, partner_id: str, since: datetime) -> int: ...


class BdkRotations(abc.ABC):
    @abc.abstractmethod
    def current(self) -> str | None:
        """The BDK ID new terminals get their key from, or None: the configured one."""

    @abc.abstractmethod
    def add(self, bdk_id: str, at: datetime) -> None: ...

    @abc.abstractmethod
    def known(self) -> list[str]: ...


class UnitOfWork(abc.ABC):
    devices: DeviceRepository
    partners: PartnerRepository
    requests: RequestLog
    claim_failures: ClaimFailureLog
    bdk_rotations: BdkRotations

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
    def load(self, device_id: str, seq: int, original_seq: int | None = None,
             key_id: str | None = None
             ) -> tuple[Device | None, Partner | None, StoredRequest | None,
                        StoredRequest | None]:
        """(device, its partner, the stored request (key_id, seq), the stored sale
        original_seq); plain snapshots, changes to them are not saved. key_id None: the
        device's current key. The sale is looked for under key_id first, then under the
        device's other keys (a sale made just before a re-key is cancelled under the new one)."""

    @abc.abstractmethod
    def save(self, record: StoredRequest, is_new: bool) -> bytes | None:
        """Store the record and raise the highest counter of its key, in one transaction.
        Returns the result bytes another worker stored first for this (device, key, seq)."""

    @abc.abstractmethod
    def switch_key(self, device_id: str, new_key_id: str, previous_until: datetime) -> None:
        """The device used its pending key: make it current (Device.switch_to_pending_key),
        only if it is still the pending one (several workers may see the first use)."""


class RetryRequest(Exception):
    """The request's one transaction lost a race (a twin stored the same request first, or
    what the ledger read changed under it): it was rolled back whole; handle it again."""


class Expected(NamedTuple):
    """What a request of a group will ask for: the unit may read it for the whole group in
    advance. A hint only: what the request then asks is what counts."""

    device_id: str
    key_id: str
    seq: int
    original_seq: int | None
    token: str | None  # a debit's card or voucher code, as the ledger receives it


class RequestUnit(abc.ABC):
    """The debit path in one transaction, when the ledger lives in the server's own database
    (the built-in one): the request record, the money and the result commit together, one
    durable commit per request. A remote ledger has none: its idempotency key does that job."""

    @abc.abstractmethod
    def __call__(self, careful: bool = False, group: list[Expected] | None = None
                 ) -> "AbstractContextManager[tuple[RequestStore, Ledger]]":
        """A transaction: the store and the ledger bound to it. Commits when the block ends,
        rolls back on an exception; a lost race comes out as RetryRequest. careful: the next
        attempt after one: the ledger looks up its idempotency key before it moves money
        (the first attempt records it only with the answer, one statement fewer). group: the
        requests the block will handle, in order, when there are several: an adapter may read
        their rows together beforehand and write theirs together at the end (a conflict
        found then rolls back the whole block, as any other)."""
