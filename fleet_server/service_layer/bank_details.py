"""Checks of a partner's bank and company details (pure): IBAN (ISO 13616, mod 97), BIC
(ISO 9362), SIRET (Luhn), French postcode. Each `check_*` returns the normalised value or
raises DetailInvalid with a code and what its wording needs (the console's French:
entrypoints/web/refusals.py)."""

import re

from fleet_server.service_layer.refusals import Refused


class DetailInvalid(Refused, ValueError):
    """iban_format, iban_country (country), iban_length (country, expected, typed),
    iban_checksum, bic_format, bic_country (bic_country, iban_country), siret_format,
    siret_checksum, postcode_format."""

# Lengths of the IBANs of SEPA countries (ISO 13616 registry); an unknown country is refused
# rather than guessed.
IBAN_LENGTHS = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
    "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GI": 23, "GR": 27, "HR": 21, "HU": 28,
    "IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31,
    "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
    "VA": 22,
}
_BIC = re.compile(r"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")


def iban_mod97(iban: str) -> int:
    """The ISO 7064 MOD 97-10 remainder of an IBAN (1 for a valid one)."""
    moved = iban[4:] + iban[:4]
    digits = "".join(str(int(c, 36)) for c in moved)
    return int(digits) % 97


def check_iban(raw: str) -> str:
    iban = re.sub(r"[\s-]", "", raw or "").upper()
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]+", iban):
        raise DetailInvalid("iban_format")
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is None:
        raise DetailInvalid("iban_country", country=iban[:2])
    if len(iban) != expected:
        raise DetailInvalid("iban_length", country=iban[:2], expected=expected,
                            typed=len(iban))
    if iban_mod97(iban) != 1:
        raise DetailInvalid("iban_checksum")
    return iban


def format_iban(iban: str) -> str:
    return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))


def check_bic(raw: str, iban: str | None = None) -> str:
    bic = re.sub(r"\s", "", raw or "").upper()
    if not _BIC.match(bic):
        raise DetailInvalid("bic_format")
    if iban and bic[4:6] != iban[:2] and not (iban[:2] in ("MC", "GF", "GP", "MQ", "RE")
                                               and bic[4:6] in ("FR", "MC")):
        raise DetailInvalid("bic_country", bic_country=bic[4:6], iban_country=iban[:2])
    return bic


def check_siret(raw: str) -> str:
    siret = re.sub(r"\s", "", raw or "")
    if not re.fullmatch(r"[0-9]{14}", siret):
        raise DetailInvalid("siret_format")
    total = 0
    for i, c in enumerate(reversed(siret)):
        d = int(c) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    # La Poste's establishments (SIREN 356000000) follow another rule: their digits sum to a
    # multiple of 5.
    if total % 10 and not (siret.startswith("356000000") and sum(map(int, siret)) % 5 == 0):
        raise DetailInvalid("siret_checksum")
    return siret


def check_postcode(raw: str) -> str:
    code = (raw or "").strip()
    if not re.fullmatch(r"[0-9]{5}", code):
        raise DetailInvalid("postcode_format")
    return code
