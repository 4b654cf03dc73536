""""Ma structure" details and "Mes exports" files of a partner: the data, its checks, and the
port that stores it (SQL in adapters/sql_partner_data.py)."""

import abc
import re
from dataclasses import dataclass, field, fields
from datetime import datetime

from fleet_server.service_layer import bank_details
from fleet_server.service_layer.accounts_policy import normalise_email

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


# The form, as in the seed: (section, [(field, label, max length)]).
SECTIONS = [
    ("Informations contractuelles", [
        ("legal_name", "Raison sociale", 120), ("siret", "N° SIRET", 20),
        ("department", "Département", 3), ("admin_email", "E-mail du contact administratif", 200),
        ("hq_street", "Siège : n° et libellé de voie", 200),
        ("hq_extra", "Siège : complément d'adresse", 200),
        ("hq_postcode", "Siège : code postal", 10), ("hq_city", "Siège : ville", 100)]),
    ("Informations publiques", [
        ("trade_name", "Nom commercial", 120), ("contact_email", "E-mail de contact", 200),
        ("phone", "Téléphone", 40), ("website", "Site internet", 200),
        ("site_street", "Site d'activité : n° et libellé de voie", 200),
        ("site_extra", "Site d'activité : complément d'adresse", 200),
        ("site_postcode", "Site d'activité : code postal", 10),
        ("site_city", "Site d'activité : ville", 100)]),
    ("Informations bancaires", [
        ("account_holder", "Titulaire du compte", 120), ("bank_name", "Désignation bancaire", 120),
        ("iban", "IBAN", 42), ("bic", "BIC", 11)]),
]
FIELD_NAMES = [name for _, items in SECTIONS for name, _, _ in items]


def clean_profile(form: dict) -> tuple[Profile, dict[str, str]]:
    """The profile a form describes, and the French problems per field (empty: all good).
    Empty fields are allowed (the partner fills them in over time), wrong ones are not."""
    limits = {name: limit for _, items in SECTIONS for name, _, limit in items}
    values: dict[str, str | None] = {}
    problems: dict[str, str] = {}
    for name in FIELD_NAMES:
        raw = form.get(name)
        text = raw.strip() if isinstance(raw, str) else ""
        if _CONTROL.search(text) or len(text) > limits[name]:
            problems[name] = "Valeur trop longue ou caractères non permis"
            text = ""
        values[name] = text or None
    checks = {"siret": bank_details.check_siret, "iban": bank_details.check_iban,
              "hq_postcode": bank_details.check_postcode,
              "site_postcode": bank_details.check_postcode}
    for name, check in checks.items():
        if values[name] and name not in problems:
            try:
                values[name] = check(values[name])
            except ValueError as err:
                problems[name] = str(err)
    if values["bic"] and "bic" not in problems:
        try:
            iban_ok = values["iban"] if "iban" not in problems else None
            values["bic"] = bank_details.check_bic(values["bic"], iban_ok)
        except ValueError as err:
            problems["bic"] = str(err)
    if bool(values["iban"]) != bool(values["bic"]) and not {"iban", "bic"} & problems.keys():
        problems["iban" if not values["iban"] else "bic"] = "IBAN et BIC vont ensemble"
    for name in ("admin_email", "contact_email"):
        if values[name] and name not in problems:
            email = normalise_email(values[name])
            if email is None:
                problems[name] = "Adresse e-mail invalide"
            values[name] = email or values[name]
    if values["department"] and not re.fullmatch(r"(0[1-9]|[1-8][0-9]|9[0-5]|2[AB]|97[1-6])",
                                                 values["department"].upper()):
        problems["department"] = "Département invalide (01 à 95, 2A, 2B, 971 à 976)"
    if values["phone"] and not re.fullmatch(r"[0-9+() .-]{6,40}", values["phone"]):
        problems["phone"] = "Téléphone invalide"
    if values["website"] and not re.match(r"^https?://[^\s/]+", values["website"]):
        problems["website"] = "Adresse de site invalide (https://...)"
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
