"""SQLAlchemy implementation of the unit of work and repositories."""

from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from fleet_server.adapters import orm
from fleet_server.domain.devices import Device
from fleet_server.domain.partners import Partner
from fleet_server.domain.requests import StoredRequest
from fleet_server.service_layer import unit_of_work as uow

_DERIVATION_LOCK = 0x464C4545544B4944  # PostgreSQL advisory lock id: Initial Key ID allocation


class SqlDeviceRepository(uow.DeviceRepository):
    def __init__(self, session: Session):
        self.session = session

    def get(self, device_id: str, lock: bool = False) -> Device | None:
        # FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers.
        return self.session.get(Device, device_id, with_for_update=lock or None)

    def add(self, device: Device) -> None:
        self.session.add(device)

    def list(self, state=None, partner_id=None, limit=100, offset=0) -> list[Device]:
        query = select(Device).order_by(orm.devices.c.device_id)
        if state:
            query = query.where(orm.devices.c.state == state)
        if partner_id:
            query = query.where(orm.devices.c.partner_id == partner_id)
        return list(self.session.scalars(query.limit(limit).offset(offset)))

    def next_derivation_id(self, bdk_id: str) -> int:
        # Initial Key IDs are BDK ID (8 hex) + derivation ID (8 hex), allocated in order.
        # Keys sent by a re-key and not yet in use count too, or a new terminal could get one.
        if self.session.get_bind().dialect.name == "postgresql":
            # Two transactions at once (registrations, re-keys of two terminals) would read the
            # same maximum and hand out one Initial Key twice: they take turns until commit.
            # (SQLite: BEGIN IMMEDIATE already serialises writers.)
            self.session.execute(select(func.pg_advisory_xact_lock(_DERIVATION_LOCK)))
        prefix = bdk_id.upper() + "%"
        tops = [self.session.scalar(select(func.max(column)).where(column.like(prefix)))
                for column in (orm.devices.c.initial_key_id, orm.devices.c.pending_key_id,
                               orm.devices.c.previous_key_id)]
        top = max((t for t in tops if t), default=None)
        return int(top[8:], 16) + 1 if top else 1


class SqlPartnerRepository(uow.PartnerRepository):
    def __init__(self, session: Session):
        self.session = session

    def get(self, partner_id: str, lock: bool = False) -> Partner | None:
        return self.session.get(Partner, partner_id, with_for_update=lock or None)

    def add(self, partner: Partner) -> None:
        self.session.add(partner)

    def list(self) -> list[Partner]:
        return list(self.session.scalars(select(Partner).order_by(orm.partners.c.name)))


class SqlRequestLog(uow.RequestLog):
    def __init__(self, session: Session):
        self.session = session

    def get(self, device_id: str, key_id: str, seq: int) -> StoredRequest | None:
        return self.session.get(StoredRequest, (device_id, key_id, seq))

    def add(self, request: StoredRequest) -> None:
        self.session.add(request)


class SqlClaimFailureLog(uow.ClaimFailureLog):
    def __init__(self, session: Session):
        self.session = session

    def add(self, partner_id: str, device_id: str | None, code: str, at: datetime) -> None:
        self.session.execute(insert(orm.claim_failures).values(
            partner_id=partner_id, device_id=device_id, code=code, at=at))

    def count_since(self, partner_id: str, since: datetime) -> int:
        t = orm.claim_failures
        return self.session.scalar(select(func.count()).select_from(t).where(
            t.c.partner_id == partner_id, t.c.at >= since)) or 0


class SqlBdkRotations(uow.BdkRotations):
    def __init__(self, session: Session):
        self.session = session

    def current(self) -> str | None:
        t = orm.bdk_rotations
        return self.session.scalar(select(t.c.bdk_id).order_by(t.c.activated_at.desc(),
                                                               t.c.bdk_id.desc()).limit(1))

    def add(self, bdk_id: str, at: datetime) -> None:
        self.session.execute(insert(orm.bdk_rotations).values(bdk_id=bdk_id, activated_at=at))

    def known(self) -> list[str]:
        t = orm.bdk_rotations
        return list(self.session.scalars(select(t.c.bdk_id).order_by(t.c.activated_at)))


class SqlUnitOfWork(uow.UnitOfWork):
    def __init__(self, session_factory: sessionmaker):
        self.session_factory = session_factory

    def __enter__(self) -> "SqlUnitOfWork":
        self.session = self.session_factory()
        self.devices = SqlDeviceRepository(self.session)
        self.partners = SqlPartnerRepository(self.session)
        self.requests = SqlRequestLog(self.session)
        self.claim_failures = SqlClaimFailureLog(self.session)
        self.bdk_rotations = SqlBdkRotations(self.session)
        return self

    def __exit__(self, *exc) -> None:
        self.rollback()
        self.session.close()

    def commit(self) -> None:
        try:
            self.session.commit()
        except IntegrityError as err:
            self.session.rollback()
            raise uow.DuplicateRequest(str(err.orig)[:200]) from err

    def rollback(self) -> None:
        self.session.rollback()
