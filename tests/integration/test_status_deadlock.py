"""The status writer's batch and a group of debits lock device rows in different orders; when
PostgreSQL breaks the deadlock by aborting the batch, the batch is written again, not lost
(and not logged as a failure)."""

import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from fleet_server.adapters.orm import devices
from fleet_server.adapters.sql_support import SqlSupportStore
from fleet_server.bootstrap import bootstrap
from fleet_server.service_layer import registry
from fleet_server.service_layer.support_ports import Seen
from fleet_server.settings import Settings

pytestmark = [pytest.mark.postgres]


def test_a_status_batch_chosen_to_break_a_deadlock_is_written_again(fresh_postgres_url):
    fleet = bootstrap(Settings(db_url=fresh_postgres_url, settlement_enabled=False,
                               master_secret="unit-test-secret-0123456789abcdef"))
    try:
        now = datetime.now(UTC)
        first, second = sorted(registry.register_device(fleet.uow(), fleet.keys, "t", now)
                               .device_id for _ in range(2))
        store = SqlSupportStore(fleet.engine)
        holder_has_second, outcome = threading.Event(), {}

        def other_transaction():  # as a group of debits: the second device, then the first
            with fleet.engine.begin() as conn:
                # Its own deadlock check comes late: the batch's (1 s) finds the deadlock.
                conn.exec_driver_sql("SET LOCAL deadlock_timeout = '10s'")
                conn.execute(update(devices).where(devices.c.device_id == second)
                             .values(highest_seq=7))
                holder_has_second.set()
                time.sleep(0.4)  # the batch holds the first device and waits for the second
                conn.execute(update(devices).where(devices.c.device_id == first)
                             .values(highest_seq=7))
            outcome["other"] = "committed"

        other = threading.Thread(target=other_transaction)
        other.start()
        holder_has_second.wait(5)
        store.write_batch([Seen(first, now, "1.2.3", None, None, False),
                           Seen(second, now, "1.2.3", None, None, False)], [])
        other.join(10)
        with fleet.engine.connect() as conn:
            rows = conn.execute(select(devices.c.firmware_version, devices.c.highest_seq)
                                .where(devices.c.device_id.in_([first, second]))).all()
        assert sorted(rows) == [("1.2.3", 7), ("1.2.3", 7)]
        assert outcome == {"other": "committed"}
    finally:
        fleet.close()
