import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import tokens
from protocol.errors import ProtocolError

payload8 = st.text(alphabet=tokens.ALPHABET32, min_size=8, max_size=8)
digits11 = st.text(alphabet="0123456789", min_size=11, max_size=11)


@given(payload8)
def test_voucher_round_trips_through_the_scanner_parser(payload):
    code = tokens.make_voucher(payload)
    assert tokens.parse_token(code) == (tokens.VOUCHER, code)
    assert tokens.parse_token(" " + code.lower()[:4] + "-" + code[4:] + "\r\n") == (
        tokens.VOUCHER, code)


@given(payload8, st.integers(0, 8), st.integers(1, 31))
def test_any_single_character_misread_of_a_voucher_is_caught(payload, pos, shift):
    code = tokens.make_voucher(payload)
    wrong = tokens.ALPHABET32[(tokens.ALPHABET32.index(code[pos]) + shift) % 32]
    misread = code[:pos] + wrong + code[pos + 1:]
    with pytest.raises(ProtocolError) as err:
        tokens.parse_token(misread)
    assert err.value.code == "code_unreadable"


@given(digits11, st.integers(0, 11), st.integers(1, 9))
def test_any_single_digit_typo_on_a_card_code_is_caught(digits, pos, shift):
    code = tokens.make_card(digits)
    wrong = str((int(code[pos]) + shift) % 10)
    with pytest.raises(ProtocolError) as err:
        tokens.parse_token(code[:pos] + wrong + code[pos + 1:])
    assert err.value.code == "code_unreadable"


def test_card_codes_are_typed_in_groups_of_four():
    code = tokens.make_card("97310000042")
    assert tokens.parse_token(tokens.format_card(code)) == (tokens.CARD, code)


def test_look_alike_letters_are_read_as_digits():
    code = tokens.make_voucher("10000000")
    assert tokens.parse_token("IO" + code[2:]) == (tokens.VOUCHER, code)


def test_qr_code_carrying_a_url_yields_the_code_in_its_last_segment():
    code = tokens.make_voucher("2DZHB6PQ")
    assert tokens.parse_token("https://pass.example/v/" + code + "?src=qr") == (
        tokens.VOUCHER, code)


@pytest.mark.parametrize("raw", ["", "ABC", "1234567890", "X" * 20])
def test_codes_of_no_known_shape_are_unknown(raw):
    with pytest.raises(ProtocolError) as err:
        tokens.parse_token(raw)
    assert err.value.code == "unknown_code"


def test_overlong_scanner_lines_are_refused_before_parsing():
    with pytest.raises(ProtocolError) as err:
        tokens.parse_token("A" * 1000)
    assert err.value.code == "too_large"


@given(st.binary(min_size=8, max_size=8))
def test_device_ids_carry_their_own_check(raw):
    device_id = tokens.make_device_id(tokens.random_payload32(8, lambda n: raw))
    assert tokens.is_device_id(device_id)
    assert not tokens.is_device_id(device_id[:-1] + ("0" if device_id[-1] != "0" else "1"))


def test_claim_codes_are_printed_in_two_groups_and_read_back():
    code = tokens.make_claim_code(tokens.random_payload32(8, os.urandom))
    assert tokens.parse_claim_code(tokens.format_claim_code(code).lower()) == code


@given(st.text(max_size=200))
def test_parse_token_raises_only_protocol_errors(raw):
    try:
        tokens.parse_token(raw)
    except ProtocolError as err:
        assert err.code in ("unknown_code", "code_unreadable", "too_large", "malformed")
