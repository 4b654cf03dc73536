"""In-memory fakes of the unit of work and the ledger, for service tests."""

import copy
import itertools

from fleet_server.ledger.port import APPROVED, Ledger, LedgerResult, LedgerUnavailable
from fleet_server.service_layer import unit_of_work as uow


class FakeDevices(uow.DeviceRepository):
    def __init__(self, store):
        self.store = store

    def get(self, device_id):
        return self.store.get(device_id)

    def add(self, device):
        self.store[device.device_id] = device

    def list(self, state=None, partner_id=None, limit=100, offset=0):
        return [d for d in self.store.values() if (not state or d.state == state)
                and (not partner_id or d.partner_id == partner_id)][offset:offset + limit]

    def next_derivation_id(self, bdk_id):
        return len(self.store) + 1


class FakePartners(uow.PartnerRepository):
    def __init__(self, store):
        self.store = store

    def get(self, partner_id):
        return self.store.get(partner_id)

    def add(self, partner):
        self.store[partner.partner_id] = partner

    def list(self):
        return list(self.store.values())


class FakeRequests(uow.RequestLog):
    def __init__(self, store, staged):
        self.store, self.staged = store, staged

    def get(self, device_id, seq):
        return self.staged.get((device_id, seq)) or self.store.get((device_id, seq))

    def add(self, request):
        self.staged[(request.device_id, request.seq)] = request


class FakeUnitOfWork(uow.UnitOfWork):
    """Commits copy the staged state into shared dicts; a rollback forgets it."""

    def __init__(self):
        self.devices_store, self.partners_store, self.requests_store = {}, {}, {}
        self.commits = 0

    def __call__(self):
        self._staged = {}
        self.devices = FakeDevices(self.devices_store)
        self.partners = FakePartners(self.partners_store)
        self.requests = FakeRequests(self.requests_store, self._staged)
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

    def load(self, device_id, seq, original_seq=None):
        device = copy.copy(self.uow.devices_store.get(device_id))
        partner = copy.copy(self.uow.partners_store.get(device.partner_id)) if device else None
        requests = self.uow.requests_store
        stored = copy.copy(requests.get((device_id, seq)))
        sale = copy.copy(requests.get((device_id, original_seq))) if original_seq else None
        return device, partner, stored, sale

    def save(self, record, is_new):
        key = (record.device_id, record.seq)
        existing = self.uow.requests_store.get(key)
        if is_new and existing is not None:
            return existing.result_payload
        self.uow.requests_store[key] = copy.copy(record)
        device = self.uow.devices_store[record.device_id]
        device.highest_seq = max(device.highest_seq, record.seq)
        return None


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
