"""Nightly settlement of the reference ledger: Paris days, batches, CSV exports."""

import csv
import io
import secrets
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from fleet_server.ledger import exports
from fleet_server.ledger.port import DebitRequest, VoidRequest
from fleet_server.reference_ledger import rules, settlement
from fleet_server.reference_ledger.reference import PotView, ReferenceLedger
from fleet_server.reference_ledger.settlement import BatchError, cancel_batch, run_settlement
from protocol.tokens import make_card

PARIS = ZoneInfo("Europe/Paris")


def paris(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS).astimezone(UTC)


class Clock:
    def __init__(self):
        self.now = datetime(2024, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Shop:
    """One partner selling from one card, at moments the test chooses."""

    def __init__(self, session_factory):
        self.clock = Clock()
        self.sf = session_factory
        self.ledger = ReferenceLedger(session_factory, clock=self.clock)
        self.program = self.ledger.create_program("Pass", 2024)
        self.id = self.ledger.create_partner("Théâtre")
        self.ledger.create_agreement(self.id, self.program, "culture", 2024, rules.SIGNED)
        self.card = make_card("".join(secrets.choice("0123456789") for _ in range(11)))
        self.ledger.create_beneficiary(self.program, self.card, [PotView("culture", 1_000_000)])

    def sell(self, at: datetime, amount_cents: int, device_id: str | None = None) -> str:
        self.clock.now = at
        result = self.ledger.debit(DebitRequest(secrets.token_hex(8), self.id, self.card,
                                                amount_cents, "culture", at, device_id))
        assert result.approved
        return result.operation_id

    def void(self, operation_id: str):
        return self.ledger.void(VoidRequest(secrets.token_hex(8), self.id, operation_id,
                                            self.clock.now))

    def settle(self, day: date):
        return [b for b in run_settlement(self.sf, day) if b.partner_id == self.id]


@pytest.fixture
def shop(ledger_db) -> Shop:
    return Shop(ledger_db)


@pytest.mark.parametrize("day, hours", [
    (date(2024, 3, 30), 24), (date(2024, 3, 31), 23), (date(2024, 10, 27), 25),
    (date(2024, 7, 14), 24)])
def test_a_paris_day_starts_and_ends_at_paris_midnight(day, hours):
    start, end = settlement.paris_day_bounds(day)
    assert start == paris(day.year, day.month, day.day)
    assert end - start == timedelta(hours=hours)


@pytest.mark.parametrize("day", [date(2024, 3, 31), date(2024, 10, 27), date(2024, 2, 29)])
def test_half_past_eleven_belongs_to_the_day_and_half_past_midnight_to_the_next(shop, day):
    before = day - timedelta(days=1)
    nxt = day + timedelta(days=1)
    shop.sell(paris(before.year, before.month, before.day, 23, 59, 59), 100)
    late = shop.sell(paris(day.year, day.month, day.day, 0, 0, 0), 200)
    shop.sell(paris(day.year, day.month, day.day, 12, 0), 300)
    shop.sell(paris(day.year, day.month, day.day, 23, 30), 400)
    shop.sell(paris(nxt.year, nxt.month, nxt.day, 0, 30), 800)
    [batch] = shop.settle(day)
    assert (batch.day, batch.count, batch.total_cents) == (day, 3, 900)
    assert batch.status == settlement.REQUESTED
    ops = shop.ledger.list_operations(partner_id=shop.id, batch_id=batch.id)
    assert late in {op.id for op in ops}
    assert all(op.reimbursement_requested_at is not None for op in ops)
    [following] = shop.settle(nxt)
    assert following.total_cents == 800


def test_settlement_run_twice_creates_nothing_new(shop):
    shop.sell(paris(2024, 5, 2, 10, 0), 150)
    shop.sell(paris(2024, 5, 2, 11, 0), 250)
    assert [(b.count, b.total_cents) for b in shop.settle(date(2024, 5, 2))] == [(2, 400)]
    assert shop.settle(date(2024, 5, 2)) == []
    assert len(settlement.list_batches(shop.sf, partner_id=shop.id)) == 1


def test_voided_operations_are_not_settled(shop):
    kept = shop.sell(paris(2024, 5, 3, 10, 0), 150)
    shop.void(shop.sell(paris(2024, 5, 3, 11, 0), 250))
    [batch] = shop.settle(date(2024, 5, 3))
    assert (batch.count, batch.total_cents) == (1, 150)
    assert [op.id for op in shop.ledger.list_operations(batch_id=batch.id)] == [kept]


def test_a_cancelled_batch_frees_its_operations_and_a_rerun_batches_what_is_left(shop):
    first = shop.sell(paris(2024, 5, 4, 10, 0), 150)
    second = shop.sell(paris(2024, 5, 4, 11, 0), 250)
    [batch] = shop.settle(date(2024, 5, 4))
    assert shop.void(first).code == "void_not_allowed"
    with pytest.raises(LookupError):
        cancel_batch(shop.sf, batch.id, partner_id="someone-else")
    assert cancel_batch(shop.sf, batch.id, partner_id=shop.id).status == settlement.CANCELLED
    assert shop.void(first).approved
    assert date(2024, 5, 4) in settlement.unsettled_days(shop.sf, date(2024, 5, 5))
    [again] = shop.settle(date(2024, 5, 4))
    assert (again.count, again.total_cents) == (1, 250)
    assert shop.ledger.get_operation(second).batch_id == again.id
    with pytest.raises(BatchError):
        cancel_batch(shop.sf, batch.id)


def test_a_paid_batch_cannot_be_cancelled(shop):
    shop.sell(paris(2024, 5, 5, 10, 0), 150)
    [batch] = shop.settle(date(2024, 5, 5))
    assert settlement.mark_batch_paid(shop.sf, batch.id).status == settlement.PAID
    with pytest.raises(BatchError):
        cancel_batch(shop.sf, batch.id)


def read_csv(text: str) -> list[list[str]]:
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:]), delimiter=";"))


def test_operations_csv_is_semicolon_separated_with_decimal_commas_and_paris_times(shop):
    op_id = shop.sell(paris(2024, 10, 27, 0, 30), 1234, device_id="CT12345678Z")
    shop.ledger.set_internal_reference(op_id, shop.id, "=HYPERLINK(\"x\")")
    ops = shop.ledger.list_operations(partner_id=shop.id)
    header, row = read_csv(exports.operations_csv(ops))
    assert header[:8] == ["N° opération", "Date", "Heure", "Type", "Code", "Catégorie",
                          "Millésime", "Montant (EUR)"]
    assert row[:9] == [op_id, "27/10/2024", "00:30:00", "Carte", shop.card, "culture", "2024",
                       "12,34", "Validée"]
    assert row[9] == "'=HYPERLINK(\"x\")"  # a spreadsheet must not run a partner's text
    assert row[10] == "CT12345678Z"


def test_batches_csv_lists_each_batch(shop):
    shop.sell(paris(2024, 5, 6, 9, 0), 100_005)
    [batch] = shop.settle(date(2024, 5, 6))
    header, row = read_csv(exports.batches_csv([batch]))
    assert header == ["N° lot", "Journée", "Partenaire", "Nombre d'opérations", "Montant (EUR)",
                      "Statut", "Date du statut"]
    assert row[:6] == [batch.id, "06/05/2024", shop.id, "1", "1000,05", "Remboursement demandé"]


@pytest.mark.parametrize("cents, text", [(0, "0,00"), (5, "0,05"), (1234, "12,34"),
                                         (-250, "-2,50"), (100_000_00, "100000,00")])
def test_amounts_are_written_with_a_decimal_comma(cents, text):
    assert exports.format_cents(cents) == text
