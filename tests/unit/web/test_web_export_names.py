"""Each export in "Mes exports" has its own file name (Paris date and time, then a number)."""

from datetime import UTC, datetime

from fleet_server.service_layer.partner_console import export_name

NOW = datetime(2026, 12, 4, 16, 59, 7, tzinfo=UTC)  # 17:59:07 in Paris


def test_the_name_carries_the_paris_date_and_time():
    assert export_name("operations", NOW, set()) == "operations-20261204-175907.csv"


def test_a_second_file_within_the_same_second_gets_a_number():
    taken = {"operations-20261204-175907.csv"}
    assert export_name("operations", NOW, taken) == "operations-20261204-175907-2.csv"
    taken.add("operations-20261204-175907-2.csv")
    assert export_name("operations", NOW, taken) == "operations-20261204-175907-3.csv"
    assert export_name("remboursements", NOW, taken) == "remboursements-20261204-175907.csv"
