"""Revocation at the broker when several retirements run at once (parallel API and console
requests): every device ends up on the revoked list and denied by the ACL, none fails."""

import threading

from fleet_server.adapters.broker_security import BrokerSecurity
from protocol import tokens


def _device_ids(n: int) -> list[str]:
    digits = str.maketrans("0189", "ABJK")  # base32 payloads without 0, 1, 8, 9
    return [tokens.make_device_id(f"R{i:07d}".translate(digits)) for i in range(n)]


def test_parallel_revocations_lose_no_device(tmp_path):
    security = BrokerSecurity(tmp_path, broker_pid=lambda: None, disconnect=lambda _d: False)
    ids = _device_ids(16)
    start, errors = threading.Barrier(len(ids)), []

    def revoke(device_id):
        start.wait()
        try:
            security.revoke(device_id)
        except Exception as err:  # the test reports any failure
            errors.append(err)

    threads = [threading.Thread(target=revoke, args=(d,)) for d in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert security.revoked() == set(ids)
    acl = (tmp_path / BrokerSecurity.ACL).read_text()
    assert all(f"user {d}\n" in acl for d in ids)
