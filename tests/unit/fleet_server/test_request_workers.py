"""How many threads handle device requests: few with the built-in ledger, whose workers handle
their queued requests as one group (fewer, larger groups cost less per debit), more with a
remote ledger (each request waits on its HTTP call); FLEET_REQUEST_WORKERS decides when set."""

import pytest
from pydantic import ValidationError

from fleet_server.settings import Settings


def test_the_built_in_ledger_gets_two_workers_and_a_remote_one_eight():
    assert Settings().request_worker_count() == 2
    assert Settings(ledger_url="https://ledger.example").request_worker_count() == 8


def test_the_setting_decides_when_given(monkeypatch):
    monkeypatch.setenv("FLEET_REQUEST_WORKERS", "5")
    assert Settings().request_worker_count() == 5
    assert Settings(ledger_url="https://ledger.example").request_worker_count() == 5


def test_a_worker_count_out_of_bounds_is_refused():
    for bad in (0, 65):
        with pytest.raises(ValidationError):
            Settings(request_workers=bad)
