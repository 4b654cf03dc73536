"""What keeps the terminal's identifier pools and heap small must not change what the code
says: the decline/error table looked up in one string agrees with the server's dict, and the
build names each .mpy by its dotted module name (docs/firmware.md, "Identifiers")."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import errors
from protocol.errors import ProtocolError
from provisioning.firmware_build import module_name


def test_the_table_lookups_agree_with_the_codes_dict():
    assert len(errors.CODES) == 38
    for code, (kind, french, english) in errors.CODES.items():
        assert kind in (errors.DECLINE, errors.ERROR)
        assert errors.is_known(code) and errors.kind_of(code) == kind
        assert errors.text_fr(code) == french and errors.text_en(code) == english
        assert ProtocolError(code).code == code
    assert errors.CODES["code_unreadable"][1] == "Code illisible, rescannez"


@pytest.mark.parametrize("code", ["", "bad", "mac", "bad_mac|", "bad_mac\n", "insufficient",
                                  "decline", "Solde insuffisant", None, 3])
def test_a_part_of_a_line_is_not_a_code(code):
    assert not errors.is_known(code)
    assert errors.kind_of(code) == errors.ERROR
    assert errors.text_fr(code) == errors.CODES["internal_error"][1]


@given(st.text(max_size=40))
def test_any_text_is_a_known_code_exactly_when_the_dict_has_it(text):
    assert errors.is_known(text) == (text in errors.CODES)
    err = ProtocolError(text, "detail")
    assert err.code == (text if text in errors.CODES else "internal_error")


def test_each_mpy_carries_its_dotted_module_name():
    assert module_name("terminal/app.mpy") == "terminal.app"
    assert module_name("terminal/drivers/scanner_gm65.mpy") == "terminal.drivers.scanner_gm65"
    assert module_name("terminal/__init__.mpy") == "terminal"
    assert module_name("protocol/__init__.mpy") == "protocol"
