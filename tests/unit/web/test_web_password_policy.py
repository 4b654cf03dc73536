"""The seed's password rule: 12+ characters, upper, lower, digit, special, no space."""

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet_server.entrypoints.web.refusals import password_refusal
from fleet_server.service_layer.accounts_policy import normalise_email, password_problems

GOOD = "Bonjour!2026x"


def test_a_password_meeting_every_rule_passes():
    assert password_problems(GOOD) == []
    assert password_problems("Aa1!" * 3) == []  # exactly 12


@pytest.mark.parametrize("password, missing", [
    ("Aa1!aaaaaaa", "too_short"),       # 11 characters
    ("bonjour!2026x", "no_upper"),
    ("BONJOUR!2026X", "no_lower"),
    ("Bonjour!aaaax", "no_digit"),
    ("Bonjour12026x", "no_special"),
])
def test_each_missing_kind_is_named(password, missing):
    assert password_problems(password) == [missing]


def test_a_space_is_not_a_special_character_and_is_refused():
    assert password_problems("Bonjour 2026xx") == ["no_special", "has_space"]
    assert "has_space" in password_problems("Bonjour! 2026x")


def test_overlong_and_control_characters_are_refused():
    assert "too_long" in password_problems(GOOD + "a" * 200)
    assert "has_control" in password_problems(GOOD + "\x00")


@given(st.text(alphabet=string.ascii_lowercase + string.digits + "!?@#", min_size=0,
               max_size=40))
def test_without_an_upper_case_letter_nothing_passes(password):
    assert "no_upper" in password_problems(password)


@given(st.text(max_size=200))
def test_any_text_gets_a_list_of_problems_and_never_an_error(password):
    problems = password_problems(password)
    assert isinstance(problems, list)
    if not problems:
        assert len(password) >= 12 and not any(c.isspace() for c in password)


@pytest.mark.parametrize("raw, expected", [
    ("  Marie.Dupont@Example.ORG ", "marie.dupont@example.org"),
    ("a+b@sub.example.fr", "a+b@sub.example.fr"),
    ("no-at-sign.example.org", None),
    ("two@@example.org", None),
    ("x@localhost", None),  # no dot in the domain: not an address mail can reach here
    ("", None),
    ("a" * 200 + "@example.org", None),
])
def test_email_addresses_are_normalised_or_refused(raw, expected):
    assert normalise_email(raw) == expected


def test_the_console_says_what_must_be_there_then_what_must_not():
    assert password_refusal(password_problems("Bonjour! 2026x")) == \
        "Le mot de passe ne doit comporter aucun espace"
    assert password_refusal(password_problems("bonjour 2026x!")) == (
        "Le mot de passe doit comporter au moins une majuscule ; "
        "il ne doit comporter aucun espace")
    assert password_refusal(password_problems("Bonjour!2026x\x00 ")).endswith(
        "ne doit comporter aucun espace ni aucun caractère de contrôle")
