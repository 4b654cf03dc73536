import pytest

from protocol import errors, text


@pytest.mark.parametrize("code", sorted(errors.CODES))
def test_every_code_has_a_french_text_that_fits_two_screen_lines(code):
    kind, fr, en = errors.CODES[code]
    assert kind in (errors.DECLINE, errors.ERROR)
    assert fr and en
    assert len(text.wrap(text.ascii_fold(fr), 16)) <= 2


def test_unknown_codes_become_internal_errors_without_losing_the_detail():
    err = errors.ProtocolError("no_such_code", "details")
    assert err.code == "internal_error"
    assert "no_such_code" in err.detail


def test_accents_fold_to_what_the_8x8_font_draws():
    assert text.ascii_fold("Chèque déjà utilisé") == "Cheque deja utilise"
    assert text.ascii_fold("Ω") == "?"


def test_wrap_cuts_words_longer_than_a_line():
    assert text.wrap("Hors de votre convention", 16) == ["Hors de votre", "convention"]
    assert text.wrap("abcdefghijklmnopqrstu", 16) == ["abcdefghijklmnop", "qrstu"]


@pytest.mark.parametrize("cents,shown", [(0, "0,00 EUR"), (5, "0,05 EUR"), (600, "6,00 EUR"),
                                         (123456, "1234,56 EUR"), (-250, "-2,50 EUR")])
def test_cents_are_formatted_without_floats(cents, shown):
    assert text.format_cents(cents) == shown
