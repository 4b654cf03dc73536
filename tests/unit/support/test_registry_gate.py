"""Only registry terminals enter the live view; a flood of made-up ids costs one registry read a
second and a bounded number of one-id lookups; thousands of registered terminals coming back
together are all let in at once; a terminal coming online just after a read is let in at once."""

from fleet_server.service_layer.registry_gate import RegistryGate


class Registry(set):
    def __init__(self, ids=()):
        super().__init__(ids)
        self.reads = self.lookups = 0

    def ids(self):
        self.reads += 1
        return list(self)

    def has(self, device_id):
        self.lookups += 1
        return device_id in self


def test_a_flood_of_made_up_ids_costs_one_registry_read_a_second():
    registry, clock = Registry({"CT1"}), [100.0]
    gate = RegistryGate(registry.ids, monotonic=lambda: clock[0])
    assert not any(gate(f"FAKE{i}") for i in range(5000))
    assert registry.reads == 1
    clock[0] += 1.0
    assert not any(gate(f"MORE{i}") for i in range(5000))
    assert registry.reads == 2 and gate("CT1")


def test_registered_terminals_coming_back_together_are_all_let_in():
    # After a restart every terminal's retained "online" arrives in the same second.
    registry = Registry(f"CT{i:06d}" for i in range(10_000))
    gate = RegistryGate(registry.ids, monotonic=lambda: 100.0)
    assert all(gate(f"CT{i:06d}") for i in range(10_000))
    assert registry.reads == 1


def test_a_terminal_refused_before_its_registration_is_let_in_at_its_next_message():
    registry, clock = Registry(), [100.0]
    gate = RegistryGate(registry.ids, monotonic=lambda: clock[0])
    assert gate("CTNEW") is False  # its status came before the registration was committed
    registry.add("CTNEW")
    clock[0] += 1.0
    assert gate("CTNEW") is True  # no refusal kept for it
    registry.clear()
    assert gate("CTNEW") is True  # known: not asked again


def test_a_terminal_registered_just_after_a_read_is_let_in_at_once():
    # A made-up id (or a retired terminal's last will) set off a read; a terminal registered
    # since then comes online in the same second: no waiting for its next heartbeat.
    registry, clock = Registry({"CT1"}), [100.0]
    gate = RegistryGate(registry.ids, registry.has, monotonic=lambda: clock[0])
    assert gate("FAKE") is False and registry.reads == 1 and registry.lookups == 0
    registry.add("CTNEW")
    clock[0] += 0.02
    assert gate("CTNEW") is True and registry.reads == 1 and registry.lookups == 1
    registry.clear()
    assert gate("CTNEW") is True and registry.lookups == 1  # known from now on


def test_one_id_lookups_between_reads_are_bounded_each_second():
    registry, clock = Registry({"CT1"}), [100.0]
    gate = RegistryGate(registry.ids, registry.has, monotonic=lambda: clock[0],
                        lookups_per_s=20)
    gate("FAKE")  # the first use reads the registry
    assert not any(gate(f"FAKE{i}") for i in range(5000))
    assert registry.reads == 1 and registry.lookups == 20
    clock[0] += 1.0
    assert not any(gate(f"MORE{i}") for i in range(5000))
    assert registry.reads == 2 and registry.lookups == 40


def test_a_failing_lookup_refuses_and_is_asked_again_later():
    calls = []

    def broken(device_id):
        calls.append(device_id)
        raise OSError("database unreachable")

    registry, clock = Registry(), [100.0]
    gate = RegistryGate(registry.ids, broken, monotonic=lambda: clock[0])
    assert gate("A") is False and gate("CTNEW") is False and calls == ["CTNEW"]
    assert gate("CTNEW") is False and calls == ["CTNEW", "CTNEW"]
