"""The PostgreSQL pool keeps a connection for every request worker and some to spare, so no
worker's transaction opens and closes a connection of its own under load."""

from fleet_server.adapters.db import make_engine

URL = "postgresql+psycopg://fleet@127.0.0.1:5432/fleet"  # not connected: nothing is run


def test_the_pool_grows_with_the_request_workers():
    assert make_engine(URL).pool.size() == 14
    assert make_engine(URL, workers=16).pool.size() == 22
    assert make_engine(URL, workers=1).pool.size() == 10
