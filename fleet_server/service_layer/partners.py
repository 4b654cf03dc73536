"""Creating a partner: the one use case behind POST /api/v1/partners, the operator console's
partner form and `fleet partner`. The same checks everywhere; refusals carry a stable code that
each front end turns into its own answer (an HTTP status, a French sentence, a CLI line)."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from fleet_server.domain.ids import new_id
from fleet_server.domain.partners import Partner
from fleet_server.service_layer import registry
from fleet_server.service_layer.unit_of_work import UnitOfWork

NAME_MAX = 120
ADDRESS_MAX = 300
_PARTNER_ID = re.compile(r"[A-Za-z0-9_.:-]{1,40}")
_PHONE = re.compile(r"[0-9+() .-]{6,40}")
_EMAIL = re.compile(r"[^@\s]{1,100}@[^@\s]{1,99}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class PartnerRefused(Exception):
    """code: partner_id_invalid, name_invalid, phone_invalid, email_invalid, address_invalid
    (the request is wrong) or partner_exists (the id is taken)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class NewPartner:
    name: str
    can_take_payments: bool = True
    phone: str | None = None
    email: str | None = None
    address: str | None = None
    partner_id: str | None = None  # default: a new id, the same in the ledger


def checked(new: NewPartner) -> NewPartner:
    """The request with its text trimmed and empty fields as None, or PartnerRefused."""
    name = (new.name or "").strip()
    phone, email = (new.phone or "").strip(), (new.email or "").strip()
    address = (new.address or "").strip()
    if new.partner_id is not None and not _PARTNER_ID.fullmatch(new.partner_id):
        raise PartnerRefused("partner_id_invalid", "a partner id is 1 to 40 letters, digits "
                                                   "or _.:-")
    if not 0 < len(name) <= NAME_MAX or not name.isprintable():
        raise PartnerRefused("name_invalid", f"a name is 1 to {NAME_MAX} printable characters")
    if phone and not _PHONE.fullmatch(phone):
        raise PartnerRefused("phone_invalid", "a phone number is 6 to 40 digits, spaces or "
                                              "+().-")
    if email and not _EMAIL.fullmatch(email):
        raise PartnerRefused("email_invalid", "an e-mail address is name@domain")
    if len(address) > ADDRESS_MAX or _CONTROL.search(address):
        raise PartnerRefused("address_invalid", f"an address is at most {ADDRESS_MAX} "
                                                "characters, on one line")
    return NewPartner(name, bool(new.can_take_payments), phone or None, email or None,
                      address or None, new.partner_id)


def create_partner(uow_factory: Callable[[], UnitOfWork], ledger_directory, new: NewPartner,
                   now: datetime) -> Partner:
    """Check the request, then record the partner in the fleet's directory and, when the
    ledger keeps its own partner records (`ledger_directory`: the reference ledger's
    create_partner; None for an external ledger, told on its side), in the ledger under the
    same id: the ledger decides payment rights with its own record."""
    new = checked(new)
    partner_id = new.partner_id or new_id("PA")
    with uow_factory() as uow:
        if uow.partners.get(partner_id) is not None:
            raise PartnerRefused("partner_exists", f"partner {partner_id} exists")
    if ledger_directory is not None:
        try:
            ledger_directory.create_partner(new.name, new.can_take_payments,
                                            partner_id=partner_id)
        except IntegrityError:
            pass  # the ledger knew this partner already (seed data): the ids agree
    try:
        return registry.add_partner(uow_factory(), Partner(
            partner_id, new.name, can_take_payments=new.can_take_payments, phone=new.phone,
            email=new.email, address=new.address, created_at=now))
    except ValueError as err:  # created by someone else between the check and now
        raise PartnerRefused("partner_exists", str(err)) from err
