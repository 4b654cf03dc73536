"""Only registry terminals enter the live view; floods of made-up ids cost bounded lookups."""

from fleet_server.service_layer.registry_gate import RegistryGate


class Registry(dict):
    def __init__(self):
        super().__init__()
        self.asked = []

    def lookup(self, device_id):
        self.asked.append(device_id)
        return self.get(device_id)


def test_a_flood_of_made_up_ids_costs_a_bounded_number_of_lookups():
    registry, clock = Registry(), [100.0]
    gate = RegistryGate(registry.lookup, per_second=20, monotonic=lambda: clock[0])
    assert not any(gate(f"FAKE{i}") for i in range(5000))
    assert len(registry.asked) == 20
    clock[0] += 1.0
    assert not any(gate(f"MORE{i}") for i in range(5000))
    assert len(registry.asked) == 40


def test_a_terminal_refused_before_its_registration_is_let_in_at_its_next_message():
    registry, clock = Registry(), [100.0]
    gate = RegistryGate(registry.lookup, monotonic=lambda: clock[0])
    assert gate("CTNEW") is False  # its status came before the registration was committed
    registry["CTNEW"] = object()
    assert gate("CTNEW") is True  # no refusal kept for it
    registry.clear()
    assert gate("CTNEW") is True and registry.asked.count("CTNEW") == 2  # known: not asked
