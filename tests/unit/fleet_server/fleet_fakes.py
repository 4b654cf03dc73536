"""In-memory fakes of the unit of work and the ledger, for service tests."""

import copy
import itertools
from datetime import timedelta

from fleet_server.ledger.port import APPROVED, Ledger, LedgerResult, LedgerUnavailable
from fleet_server.service_layer import unit_of_work as uow


class FakeDevices(uow.DeviceRepository):
    def __init__(self, store):
        self.store = store

    def get(self, device_id, lock=False):
        return self.store.get(device_id)

    def add(self, device):
        self.store[device.device_id] = device

    def list(self, state=None, partner_id=None, limit=100, offset=0):
        return [d for d in self.store.values() if (not state or d.state == state)
                and (not partner_id or d.partner_id == partner_id)][offset:offset + limit]

    def next_derivation_id(self, bdk_id):
        used = [int(k[8:], 16) for d in self.store.values()
                for k in (d.initial_key_id, d.pending_key_id, d.previous_key_id)
                if k and k.upper().startswith(bdk_id.upper())]
        return max(used, default=0) + 1


class FakePartners(uow.PartnerRepository):
    def __init__(self, store):
        self.store = store

    def get(self, partner_id, lock=False):
        return self.store.get(partner_id)

    def add(self, partner):
        self.store[partner.partner_id] = partner

    def list(self):
        return list(self.store.values())


class FakeRequests(uow.RequestLog):
    def __init__(self, store, staged):
        self.store, self.staged = store, staged

    def get(self, device_id, key_id, seq):
        key = (device_id, key_id, seq)
        return self.staged.get(key) or self.store.get(key)

    def add(self, request):
        self.staged[(request.device_id, request.key_id, request.seq)] = request


class FakeClaimFailures(uow.ClaimFailureLog):
    def __init__(self, rows):
        self.rows = rows

    def add(self, partner_id, device_id, code, at):
        self.rows.append((partner_id, device_id, code, at))

    def count_since(self, partner_id, since):
        return sum(1 for p, _d, _c, at in self.rows if p == partner_id and at >= since)


class FakeBdkRotations(uow.BdkRotations):
    def __init__(self, rows):
        self.rows = rows

    def current(self):
        return self.rows[-1][0] if self.rows else None

    def add(self, bdk_id, at):
        if any(b == bdk_id for b, _ in self.rows):
            raise uow.DuplicateRequest(bdk_id)
        self.rows.append((bdk_id, at))

    def known(self):
        return [b for b, _ in self.rows]


class FakeUnitOfWork(uow.UnitOfWork):
    """Commits copy the staged state into shared dicts; a rollback forgets it."""

    def __init__(self):
        self.devices_store, self.partners_store, self.requests_store = {}, {}, {}
        self.claim_failure_rows, self.bdk_rows = [], []
        self.commits = 0

    def __call__(self):
        self._staged = {}
        self.devices = FakeDevices(self.devices_store)
        self.partners = FakePartners(self.partners_store)
        self.requests = FakeRequests(self.requests_store, self._staged)
        # Failures and rotations are written through at once (the fake has no rollback for
        # them; services commit them before raising anyway).
        self.claim_failures = FakeClaimFailures(self.claim_failure_rows)
        self.bdk_rotations = FakeBdkRotations(self.bdk_rows)
        return self

    def commit(self):
        for key, value in self._staged.items():
            if key in self.requests_store and self.requests_store[key] is not value:
                raise uow.DuplicateRequest(str(key))
            self.requests_store[key] = copy.copy(value)
        self._staged = {}
        self.commits += 1

    def rollback(self):
        self._staged = {}


class FakeRequestStore(uow.RequestStore):
    """The debit path's store over the same dicts as FakeUnitOfWork."""

    def __init__(self, world_uow):
        self.uow = world_uow

    def load(self, device_id, seq, original_seq=None, key_id=None):
        device = copy.copy(self.uow.devices_store.get(device_id))
        if device is None:
            return None, None, None, None
        partner = copy.copy(self.uow.partners_store.get(device.partner_id))
        key_id = key_id or device.initial_key_id
        requests = self.uow.requests_store
        stored = copy.copy(requests.get((device_id, key_id, seq)))
        sale = None
        if original_seq:
            for kid in (key_id, device.initial_key_id, device.previous_key_id):
                found = requests.get((device_id, kid, original_seq))
                if found is not None and found.kind == "debit":
                    sale = copy.copy(found)
                    break
        return device, partner, stored, sale

    def save(self, record, is_new):
        key = (record.device_id, record.key_id, record.seq)
        existing = self.uow.requests_store.get(key)
        if is_new and existing is not None:
            return existing.result_payload
        self.uow.requests_store[key] = copy.copy(record)
        device = self.uow.devices_store[record.device_id]
        device.accept_seq(record.seq, record.key_id)
        return None

    def switch_key(self, device_id, new_key_id, previous_until):
        device = self.uow.devices_store[device_id]
        if device.pending_key_id == new_key_id:
            # switch_to_pending_key(now, grace) sets previous_key_until = now + grace
            device.switch_to_pending_key(previous_until, timedelta(0))


class FakeLedger(Ledger):
    def __init__(self):
        self.calls = []
        self.results = {}
        self.unavailable = False
        self.next_result = None
        self._ops = itertools.count(1)

    def debit(self, request):
        self.calls.append(("debit", request))
        return self._answer(request)

    def void(self, request):
        self.calls.append(("void", request))
        return self._answer(request)

    def _answer(self, request):
        if self.unavailable:
            raise LedgerUnavailable("ledger down (fake)")
        if request.idempotency_key not in self.results:
            result = self.next_result or LedgerResult(
                status=APPROVED, amount_cents=getattr(request, "amount_cents", 0),
                balance_cents=1000, operation_id=f"OP{next(self._ops)}", auth_code="A1B2C3")
            self.results[request.idempotency_key] = result
        return self.results[request.idempotency_key]
