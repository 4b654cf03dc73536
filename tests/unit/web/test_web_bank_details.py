"""IBAN (mod 97), BIC, SIRET and postcode checks of "Ma structure"."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet_server.entrypoints.web.partner_admin import SECTIONS
from fleet_server.entrypoints.web.refusals import profile_problem
from fleet_server.service_layer.bank_details import (
    check_bic,
    check_iban,
    check_postcode,
    check_siret,
    format_iban,
    iban_mod97,
)
from fleet_server.service_layer.partner_data import FIELD_NAMES, clean_profile

# Published example IBANs (banks' and the ECBS's documentation).
VALID_IBANS = ["FR76 3000 6000 0112 3456 7890 189", "DE89 3704 0044 0532 0130 00",
               "GB82 WEST 1234 5698 7654 32", "BE68 5390 0754 7034", "NL91ABNA0417164300"]


@pytest.mark.parametrize("raw", VALID_IBANS)
def test_valid_ibans_are_normalised(raw):
    iban = check_iban(raw)
    assert " " not in iban and iban == iban.upper() and iban_mod97(iban) == 1
    assert check_iban(format_iban(iban)) == iban


@pytest.mark.parametrize("raw, words", [
    ("FR76 3000 6000 0112 3456 7890 188", "clé de contrôle"),
    ("FR76 3000 6000 0112 3456 7890 18", "27 caractères"),
    ("XX76 3000 6000 0112 3456 7890 189", "non pris en charge"),
    ("3000 6000 0112 3456 7890 189", "deux lettres"),
    ("", "deux lettres"),
])
def test_wrong_ibans_say_why(raw, words):
    with pytest.raises(ValueError) as refused:
        check_iban(raw)
    assert words in profile_problem(refused.value)


@given(st.integers(min_value=4, max_value=26), st.integers(min_value=0, max_value=9))
def test_changing_one_digit_of_a_valid_iban_is_caught(position, delta):
    iban = check_iban(VALID_IBANS[0])
    digit = int(iban[position])
    changed = iban[:position] + str((digit + 1 + delta % 9) % 10) + iban[position + 1:]
    with pytest.raises(ValueError):
        check_iban(changed)


def test_bic_shape_and_country():
    assert check_bic("agri fr pp") == "AGRIFRPP"
    assert check_bic("BNPAFRPPXXX", "FR7630006000011234567890189") == "BNPAFRPPXXX"
    for bad in ("AGRIFRP", "AGRI1RPP", "AGRIFRPPXX", ""):
        with pytest.raises(ValueError, match="bic_format"):
            check_bic(bad)
    with pytest.raises(ValueError) as refused:
        check_bic("DEUTDEFF", "FR7630006000011234567890189")
    assert profile_problem(refused.value) == "BIC invalide : pays DE différent de celui de " \
                                             "l'IBAN (FR)"


def test_siret_luhn_and_postcode():
    assert check_siret("732 829 320 00074") == "73282932000074"
    with pytest.raises(ValueError, match="siret_checksum"):
        check_siret("73282932000075")
    with pytest.raises(ValueError, match="siret_format"):
        check_siret("1234")
    assert check_postcode(" 94120 ") == "94120"
    with pytest.raises(ValueError):
        check_postcode("9412")


def test_profile_form_reports_each_wrong_field_and_keeps_good_ones():
    profile, problems = clean_profile({
        "legal_name": " Compagnie Arc-en-ciel ", "iban": VALID_IBANS[0], "bic": "AGRIFRPP",
        "hq_postcode": "94120", "contact_email": "Contact@Example.org", "siret": "123",
        "website": "ftp://x", "department": "94"})
    assert profile.legal_name == "Compagnie Arc-en-ciel"
    assert profile.iban == "FR7630006000011234567890189" and profile.bic == "AGRIFRPP"
    assert profile.contact_email == "contact@example.org"
    assert set(problems) == {"siret", "website"}


def test_iban_without_bic_is_refused():
    _, problems = clean_profile({"iban": VALID_IBANS[0]})
    assert {name: profile_problem(p) for name, p in problems.items()} == {
        "bic": "IBAN et BIC vont ensemble"}


def test_the_console_form_has_every_field_once():
    assert [name for _, items in SECTIONS for name, _, _ in items] == FIELD_NAMES
