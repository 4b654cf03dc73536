from fleet_server.service_layer.device_config import (
    DEFAULT_AMAX,
    PROTOCOL_AMAX,
    partner_categories,
    program_amount_max,
)


class AgreementsLedger:
    def __init__(self, rows):
        self.rows = rows

    def agreements(self, partner_id):
        return self.rows


def agreement(category, status="signed", program_max_cents=30000):
    return {"category": category, "status": status, "program_max_cents": program_max_cents}


def test_the_terminal_bound_is_the_largest_program_maximum_of_signed_agreements():
    ledger = AgreementsLedger([agreement("books", program_max_cents=15000),
                               agreement("driving", program_max_cents=60000),
                               agreement("sport", status="requested", program_max_cents=None)])
    categories, amax = partner_categories(ledger, "P1")
    assert categories == [{"c": "books"}, {"c": "driving"}]
    assert amax == 60000


def test_a_program_without_limit_leaves_only_the_protocol_bound():
    assert program_amount_max([15000, None]) == PROTOCOL_AMAX


def test_without_agreements_or_a_ledger_that_cannot_tell_the_default_applies():
    assert program_amount_max([]) == DEFAULT_AMAX
    assert partner_categories(object(), "P1") == ([], DEFAULT_AMAX)
    assert partner_categories(AgreementsLedger([]), "P1") == ([], DEFAULT_AMAX)
