"""SQLAlchemy implementation of the unit of work and repositories."""

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from fleet_server.adapters import orm
from fleet_server.domain.devices import Device
from fleet_server.domain.partners import Partner
from fleet_server.domain.requests import StoredRequest
from fleet_server.service_layer import unit_of_work as uow


class SqlDeviceRepository(uow.DeviceRepository):
    def __init__(self, session: Session):
        self.session = session

    def get(self, device_id: str) -> Device | None:
        return self.session.get(Device, device_id)

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
        top = self.session.scalar(
            select(func.max(orm.devices.c.initial_key_id))
            .where(orm.devices.c.initial_key_id.like(bdk_id.upper() + "%")))
        return int(top[8:], 16) + 1 if top else 1


class SqlPartnerRepository(uow.PartnerRepository):
    def __init__(self, session: Session):
        self.session = session

    def get(self, partner_id: str) -> Partner | None:
        return self.session.get(Partner, partner_id)

    def add(self, partner: Partner) -> None:
        self.session.add(partner)

    def list(self) -> list[Partner]:
        return list(self.session.scalars(select(Partner).order_by(orm.partners.c.name)))


class SqlRequestLog(uow.RequestLog):
    def __init__(self, session: Session):
        self.session = session

    def get(self, device_id: str, seq: int) -> StoredRequest | None:
        return self.session.get(StoredRequest, (device_id, seq))

    def add(self, request: StoredRequest) -> None:
        self.session.add(request)


class SqlUnitOfWork(uow.UnitOfWork):
    def __init__(self, session_factory: sessionmaker):
        self.session_factory = session_factory

    def __enter__(self) -> "SqlUnitOfWork":
        self.session = self.session_factory()
        self.devices = SqlDeviceRepository(self.session)
        self.partners = SqlPartnerRepository(self.session)
        self.requests = SqlRequestLog(self.session)
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
