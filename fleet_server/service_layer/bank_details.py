"""Checks of a partner's bank and company details (pure): IBAN (ISO 13616, mod 97), BIC
(ISO 9362), SIRET (Luhn), French postcode. Each `check_*` returns the normalised value or
raises ValueError with a French message."""

import re

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
        raise ValueError("IBAN invalide : deux lettres de pays, deux chiffres de contrôle, "
                         "puis le numéro de compte")
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is None:
        raise ValueError(f"IBAN invalide : pays {iban[:2]} non pris en charge (zone SEPA)")
    if len(iban) != expected:
        raise ValueError(f"IBAN invalide : {expected} caractères attendus pour {iban[:2]}, "
                         f"{len(iban)} saisis")
    if iban_mod97(iban) != 1:
        raise ValueError("IBAN invalide : la clé de contrôle ne correspond pas (faute de "
                         "frappe ?)")
    return iban


def format_iban(iban: str) -> str:
    return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))


def check_bic(raw: str, iban: str | None = None) -> str:
    bic = re.sub(r"\s", "", raw or "").upper()
    if not _BIC.match(bic):
        raise ValueError("BIC invalide : 8 ou 11 caractères (banque, pays, lieu, agence)")
    if iban and bic[4:6] != iban[:2] and not (iban[:2] in ("MC", "GF", "GP", "MQ", "RE")
                                               and bic[4:6] in ("FR", "MC")):
        raise ValueError(f"BIC invalide : pays {bic[4:6]} différent de celui de l'IBAN "
                         f"({iban[:2]})")
    return bic


def check_siret(raw: str) -> str:
    siret = re.sub(r"\s", "", raw or "")
    if not re.fullmatch(r"[0-9]{14}", siret):
        raise ValueError("SIRET invalide : 14 chiffres")
    total = 0
    for i, c in enumerate(reversed(siret)):
        d = int(c) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    # La Poste's establishments (SIREN 356000000) follow another rule: their digits sum to a
    # multiple of 5.
    if total % 10 and not (siret.startswith("356000000") and sum(map(int, siret)) % 5 == 0):
        raise ValueError("SIRET invalide : la clé de contrôle ne correspond pas")
    return siret


def check_postcode(raw: str) -> str:
    code = (raw or "").strip()
    if not re.fullmatch(r"[0-9]{5}", code):
        raise ValueError("Code postal invalide : 5 chiffres")
    return code
