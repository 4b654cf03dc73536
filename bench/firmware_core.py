# Firmware memory and signing time, measured on the MicroPython binary from the .mpy set that
# provisioning/firmware_build.py produces. Started by bench/firmware.py:
#   micropython -X heapsize=4M bench/firmware_core.py <mpy dir> <data dir> <host> <port> <n>
# Prints one line "RESULT {json}". Only MicroPython-safe syntax and modules here.
#
# Heap figures are gc.mem_alloc(): after gc.collect() for the baseline and idle figures (what is
# live), without collecting during the sale (what the sale allocates, garbage included: the
# worst case between two collections).

import gc
import sys

gc.collect()
BASELINE = gc.mem_alloc()  # this script alone: nothing of the firmware imported yet

MPY_DIR, DATA, HOST, PORT, N = sys.argv[1:6]
PORT, N = int(PORT), int(N)
sys.path[:] = [MPY_DIR]  # the firmware from the .mpy set only, never from the sources

import json  # noqa: E402
import time  # noqa: E402

from terminal import app as app_module  # noqa: E402
from terminal.boards import build_drivers, load  # noqa: E402
from terminal.journal import Journal  # noqa: E402
from terminal.keys import KeyVault  # noqa: E402
from terminal.mqtt.client import MQTTClient  # noqa: E402
from terminal.ringlog import RingLog  # noqa: E402
from terminal.runtime import Runtime  # noqa: E402

from protocol import auth, messages, topics  # noqa: E402
from protocol.tokens import make_card, make_device_id  # noqa: E402

FROM_MPY = app_module.__file__.endswith(".mpy") and messages.__file__.endswith(".mpy")
gc.collect()
IMPORTED = gc.mem_alloc()

# Fixed test keys: never a real device's.
DEV = make_device_id("BENCH0A1")
IKID = "0123456789abcdef"
IK = "00112233445566778899aabbccddeeff"
CMD_KEY = "42" * 32
CARD = make_card("12345678901")
CONFIG = {"partner": "Banc d'essai", "amax": 15000, "hb": 60,
          "cats": [{"c": "books", "l": "Livres"}]}

BUILD = []  # live heap (after gc.collect) over the imports, as each piece is built


def built(what):
    gc.collect()
    BUILD.append([what, gc.mem_alloc() - IMPORTED])


KeyVault.provision(DATA, DEV, IKID, IK, CMD_KEY)
config = {"storage_root": DATA}
drivers = build_drivers(load("unix_sim"), config)
built("drivers (unix_sim board)")
vault = KeyVault(DATA)
built("KeyVault")
mqtt = MQTTClient(DEV, HOST, PORT, keepalive=30, clean_session=True,
                  will=(topics.topic(DEV, "status"),
                        messages.encode(messages.build("status", {"dev": DEV, "ts": messages.TS_MIN,
                                                                  "st": "offline"})), 1, True))
runtime = Runtime(drivers, vault, Journal(DATA), RingLog(DATA), mqtt, time.ticks_ms,
                  time.ticks_diff, drivers["clock"].now, config=CONFIG)
built("MQTT client + Runtime + CounterApp")
runtime.start()


def step_until(done, timeout_ms):
    start = time.ticks_ms()
    while not done():
        if time.ticks_diff(time.ticks_ms(), start) > timeout_ms:
            return False
        runtime.step()
        mqtt.service(5)
    return True


connected = step_until(lambda: runtime.online and not mqtt._sub_wait and not mqtt.pending(), 10000)
for _ in range(20):  # first heartbeat and status out, screens settled
    runtime.step()
    mqtt.service(2)
built("connected, subscribed, idle")
gc.collect()
IDLE = gc.mem_alloc()

# ---- one full sale, sampled after each step without collecting -------------------------------
peak = [IDLE, ""]
samples = []


def sample(what):
    used = gc.mem_alloc()
    samples.append([what, used - IDLE])
    if used > peak[0]:
        peak[0], peak[1] = used, what


def run_steps(what, n=1):
    for _ in range(n):
        runtime.step()
        sample(what)


gc.collect()
drivers["sim_uart"].scan(CARD)
run_steps("scan", 3)
drivers["keypad"].press("1234")
run_steps("amount", 4)
drivers["keypad"].press("A")
run_steps("confirm screen")
drivers["keypad"].press("A")  # confirm: sign (KeyVault + auth.seal), journal put, publish
run_steps("sign+journal+publish")
entry = runtime.journal.get()
sample("journal read")
mqtt.service(5)
sample("mqtt flush")
if entry is not None:  # the server's answer, sealed with the result key as the server would
    result = messages.build("debit_res", {"dev": DEV, "seq": entry["seq"],
                                          "ts": drivers["clock"].now(), "st": "approved",
                                          "amt": 1234, "bal": 766, "auth": "A1B2C3"})
    payload = auth.seal(result, entry["result_key"])
    sample("result arrives")
    runtime._message(topics.topic(DEV, "debit_res"), payload)
    sample("result shown")
drivers["keypad"].press("B")
run_steps("back to idle", 2)
SALE_OK = entry is not None and runtime.sales == 1 and runtime.journal.get() is None
PEAK = peak[0]
gc.collect()
AFTER_SALE = gc.mem_alloc()

# ---- time per signed request ------------------------------------------------------------------
fields = {"tok": CARD, "amt": 1234, "cat": "books"}


def signed_request():
    seq, request_key, result_key = vault.next_transaction()
    f = dict(fields)
    f["dev"], f["seq"], f["kid"], f["ts"] = DEV, seq, vault.kid, 1760000000
    return seq, auth.seal(messages.build("debit_req", f), request_key), result_key


gc.collect()
t0 = time.ticks_us()
for _ in range(N):
    signed_request()
sign_us = time.ticks_diff(time.ticks_us(), t0) / N

journal = runtime.journal
t0 = time.ticks_us()
for _ in range(N):
    seq, payload, rkey = signed_request()
    journal.put(seq, "debit_req", topics.topic(DEV, "debit_req"), payload, rkey)
    journal.clear(seq)
sign_journal_us = time.ticks_diff(time.ticks_us(), t0) / N

mqtt.disconnect()
print("RESULT " + json.dumps({
    "from_mpy": FROM_MPY,
    "connected": connected,
    "sale_ok": SALE_OK,
    "baseline_heap_bytes": BASELINE,
    "imported_heap_bytes": IMPORTED - BASELINE,
    "idle_heap_bytes": IDLE - BASELINE,
    "idle_heap_abs_bytes": IDLE,
    "sale_peak_heap_bytes": PEAK - IDLE,
    "sale_peak_abs_bytes": PEAK,
    "sale_peak_step": peak[1],
    "after_sale_heap_bytes": AFTER_SALE - BASELINE,
    "sale_samples": samples,
    "build_samples": BUILD,
    "sign_request_ms": round(sign_us / 1000, 3),
    "sign_journal_request_ms": round(sign_journal_us / 1000, 3),
    "iterations": N,
}))
