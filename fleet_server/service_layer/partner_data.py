""""Ma structure" details and "Mes exports" files of a partner: the data, its checks, and the
port that stores it (SQL in adapters/sql_partner_data.py)."""

import abc
import re
from dataclasses import dataclass, field, fields
from datetime import datetime

from fleet_server.service_layer import bank_details
from fleet_server.service_layer.accounts_policy import normalise_email
from fleet_server.service_layer.refusals import Refused

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Profile:
    legal_name: str | None = None
    siret: str | None = None
    department: str | None = None
    admin_email: str | None = None
    hq_street: str | None = None
    hq_extra: str | None = None
    hq_postcode: str | None = None
    hq_city: str | None = None
    trade_name: str | None = None
    contact_email: str | None = None
    phone: str | None = None
    website: str | None = None
    site_street: str | None = None
    site_extra: str | None = None
    site_postcode: str | None = None
    site_city: str | None = None
    account_holder: str | None = None
    bank_name: str | None = None
    iban: str | None = None
    bic: str | None = None
    updated_at: datetime | None = field(default=None, compare=False)


# The fields, in the seed's form order, with their longest value (the console's form gives
# them their French labels and sections: entrypoints/web/partner_admin.py).
LIMITS = {"legal_name": 120, "siret": 20, "department": 3, "admin_email": 200,
          "hq_street": 200, "hq_extra": 200, "hq_postcode": 10, "hq_city": 100,
          "trade_name": 120, "contact_email": 200, "phone": 40, "website": 200,
          "site_street": 200, "site_extra": 200, "site_postcode": 10, "site_city": 100,
          "account_holder": 120, "bank_name": 120, "iban": 42, "bic": 11}
FIELD_NAMES = list(LIMITS)


def clean_profile(form: dict) -> tuple[Profile, dict[str, Refused]]:
    """The profile a form describes, and the problem of each wrong field (empty: all good):
    bank_details' codes, value_invalid, iban_without_bic, email_invalid, department_invalid,
    phone_invalid, website_invalid. Empty fields are allowed (the partner fills them in over
    time), wrong ones are not."""
    values: dict[str, str | None] = {}
    problems: dict[str, Refused] = {}
    for name in FIELD_NAMES:
        raw = form.get(name)
        text = raw.strip() if isinstance(raw, str) else ""
        if _CONTROL.search(text) or len(text) > LIMITS[name]:
            problems[name] = Refused("value_invalid")
            text = ""
        values[name] = text or None
    checks = {"siret": bank_details.check_siret, "iban": bank_details.check_iban,
              "hq_postcode": bank_details.check_postcode,
              "site_postcode": bank_details.check_postcode}
    for name, check in checks.items():
        if values[name] and name not in problems:
            try:
                values[name] = check(values[name])
            except bank_details.DetailInvalid as err:
                problems[name] = err
    if values["bic"] and "bic" not in problems:
        try:
            iban_ok = values["iban"] if "iban" not in problems else None
            values["bic"] = bank_details.check_bic(values["bic"], iban_ok)
        except bank_details.DetailInvalid as err:
            problems["bic"] = err
    if bool(values["iban"]) != bool(values["bic"]) and not {"iban", "bic"} & problems.keys():
        problems["iban" if not values["iban"] else "bic"] = Refused("iban_without_bic")
    for name in ("admin_email", "contact_email"):
        if values[name] and name not in problems:
            email = normalise_email(values[name])
            if email is None:
                problems[name] = Refused("email_invalid")
            values[name] = email or values[name]
    if values["department"] and not re.fullmatch(r"(0[1-9]|[1-8][0-9]|9[0-5]|2[AB]|97[1-6])",
                                                 values["department"].upper()):
        problems["department"] = Refused("department_invalid")
    if values["phone"] and not re.fullmatch(r"[0-9+() .-]{6,40}", values["phone"]):
        problems["phone"] = Refused("phone_invalid")
    if values["website"] and not re.match(r"^https?://[^\s/]+", values["website"]):
        problems["website"] = Refused("website_invalid")
    return Profile(**values), problems


def profile_dict(profile: Profile | None) -> dict:
    profile = profile or Profile()
    return {f.name: getattr(profile, f.name) for f in fields(profile)}


@dataclass(frozen=True)
class ExportInfo:
    id: str
    partner_id: str
    filename: str
    rows: int
    created_at: datetime
    size: int


class PartnerDataStore(abc.ABC):
    @abc.abstractmethod
    def profile(self, partner_id: str) -> Profile | None: ...

    @abc.abstractmethod
    def save_profile(self, partner_id: str, profile: Profile, now: datetime) -> None: ...

    @abc.abstractmethod
    def add_export(self, partner_id: str, filename: str, content: str, rows: int,
                   user_id: int | None, now: datetime) -> ExportInfo: ...

    @abc.abstractmethod
    def exports(self, partner_id: str) -> list[ExportInfo]: ...

    @abc.abstractmethod
    def export_content(self, partner_id: str, export_id: str) -> tuple[ExportInfo, str] | None:
        """Only the partner's own file; None for someone else's or an unknown one."""

    @abc.abstractmethod
    def delete_export(self, partner_id: str, export_id: str) -> bool: ...
