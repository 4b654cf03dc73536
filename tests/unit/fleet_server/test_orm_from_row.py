"""adapters/orm.from_row: domain objects made from rows without the ORM's loader."""

import subprocess
import sys

FRESH_PROCESS = """
from fleet_server.adapters import orm
from fleet_server.domain.devices import Device
from fleet_server.domain.partners import Partner
orm.start_mappers()
device = orm.from_row(Device, {"device_id": "CT4F7KQ2MZ1", "model": "esp32",
                               "initial_key_id": "0000A00100000007", "highest_seq": 4})
partner = orm.from_row(Partner, {"partner_id": "P1", "name": "Librairie"})
assert (device.device_id, device.highest_seq, device.events) == ("CT4F7KQ2MZ1", 4, [])
assert partner.name == "Librairie"
print("ok")
"""


def test_from_row_works_before_any_query_in_a_fresh_process():
    # `fleet serve` reads a status before any ORM query: the mappers must be configured by
    # start_mappers() itself (other tests in this process have long configured them).
    out = subprocess.run([sys.executable, "-c", FRESH_PROCESS], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"


def test_an_object_from_a_row_starts_unmodified_and_records_changes():
    from sqlalchemy import inspect

    from fleet_server.adapters import orm
    from fleet_server.domain.devices import Device

    orm.start_mappers()
    device = orm.from_row(Device, {"device_id": "CT4F7KQ2MZ1", "model": "esp32",
                                   "initial_key_id": "0000A00100000007", "highest_seq": 4})
    state = inspect(device)  # in no session, as Device(**row) was before
    assert state.transient and not state.modified
    device.highest_seq = 5
    assert state.modified and device.highest_seq == 5
