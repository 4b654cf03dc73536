"""Scenario files: TOML and YAML, defaults, and clear errors for anything else."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import scenario as sc


def test_every_key_is_optional():
    s = sc.from_dict({})
    assert s.terminals == 3 and s.sales == 10 and s.faults == []
    assert set(s.mix) <= set(sc.KINDS) and s.void_after == pytest.approx(0.1)


def test_a_toml_file_sets_rates_amounts_mix_and_faults(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("""
[fleet]
terminals = 7
sales = 4
think_s = [0.1, 0.2]
partners = 2
[amounts]
min_cents = 200
max_cents = 400
[mix]
valid = 3
unknown_code = 1
void_after = 0.5
[[faults]]
kind = "kill"
at = 0.25
count = 2
down_s = 0.5
[[faults]]
kind = "server_restart"
""")
    s = sc.load(path)
    assert (s.terminals, s.sales, s.think_s, s.partners) == (7, 4, (0.1, 0.2), 2)
    assert (s.min_cents, s.max_cents, s.void_after) == (200, 400, 0.5)
    assert s.mix == {"valid": 3, "unknown_code": 1}
    assert [f.kind for f in s.faults] == ["kill", "server_restart"]
    assert s.faults[0].count == 2 and s.faults[0].down_s == 0.5


def test_a_yaml_file_reads_the_same(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("fleet: {terminals: 2, sales: 1}\nfaults: [{kind: drop, at: 0.5}]\n")
    s = sc.load(path)
    assert s.terminals == 2 and s.faults[0].kind == "drop"


@pytest.mark.parametrize("data, words", [
    ({"fleet": {"terminals": 0}}, "terminals"),
    ({"mix": {"stolen_card": 1}}, "unknown mix"),
    ({"mix": {"valid": 0}}, "not all zero"),
    ({"mix": {"valid": -1}}, "weights"),
    ({"amounts": {"min_cents": 500, "max_cents": 100}}, "amounts"),
    ({"amounts": {"max_cents": 100_000}}, "amounts"),
    ({"faults": [{"kind": "meteor"}]}, "unknown fault"),
    ({"faults": [{"kind": "kill", "at": 2}]}, "0 <= at <= 1"),
    ({"faults": [{"kind": "kill", "colour": "red"}]}, "bad scenario"),
    ({"fleet": {"think_s": [3, 1]}}, "think_s"),
    ({"fleet": {"terminals": "many"}}, "bad scenario"),
    ({"mix": {"valid": 1, "void_after": 3}}, "probability"),
])
def test_bad_scenarios_say_what_is_wrong(data, words):
    with pytest.raises(sc.ScenarioError, match=words):
        sc.from_dict(data)


def test_a_broken_file_is_a_scenario_error(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("[fleet\nterminals = ")
    with pytest.raises(sc.ScenarioError):
        sc.load(path)


_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
_values = st.recursive(_scalars,
                       lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["fleet", "amounts", "mix", "faults", "x"]), _values,
                       max_size=4))
def test_any_input_is_a_scenario_or_a_scenario_error(data):
    try:
        sc.from_dict(data).validate()
    except sc.ScenarioError:
        pass


def test_the_shipped_scenarios_load_and_match_what_ci_runs():
    folder = sc.SCENARIOS
    every = sc.load(folder / "every-fault.toml")
    assert every.faults == sc.EVERY_FAULT
    assert {f.kind for f in every.faults} == set(sc.FAULT_KINDS)
    assert every.mix == {k: v for k, v in sc.STANDARD_MIX.items() if k != "void_after"}
    gentle = sc.load(folder / "gentle.toml")
    assert gentle.terminals == 3 and not gentle.faults
