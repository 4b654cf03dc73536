"""The heap the counter application takes on the MicroPython binary: its modules (source compiled
on the device, protocol included) and one instance through a whole sale. An ESP32 without
PSRAM leaves the application about 100 KB. Measured when this module is the first the runner
imports (tests/integration/test_micropython_portable.py runs each module on its own); on CPython
it only walks the sale."""

import gc

from portable import MICROPYTHON


def free():
    gc.collect()
    return gc.mem_free() if hasattr(gc, "mem_free") else 0


FREE_BEFORE_IMPORT = free()

from terminal.app import CounterApp  # noqa: E402

from protocol.tokens import make_card  # noqa: E402

IMPORT_BYTES = FREE_BEFORE_IMPORT - free()
CONFIG = {"partner": "Librairie des Écoles", "amax": 15000, "hb": 60,
          "cats": [{"c": "books", "l": "Livres", "cap": 600}, {"c": "culture", "l": "Culture"}]}


def test_the_application_modules_take_less_than_64_kb():
    if MICROPYTHON:
        print("INFO app_memory import_bytes %d" % IMPORT_BYTES)
        assert IMPORT_BYTES < 64 * 1024, IMPORT_BYTES


def test_the_application_stays_small_through_a_sale():
    # One instance, through a whole sale; the actions it returns are dropped at once, as the
    # runtime does after carrying them out.
    approved = {"t": "debit_res", "v": 1, "seq": 7, "st": "approved", "amt": 1234, "bal": 2766,
                "auth": "A1B2C3"}
    sale = [("tick", 0), ("net", True), ("scan", make_card("12345678901"))]
    sale += [("key", k) for k in "21234AA"] + [("sent", 7), ("result", approved)]
    before = free()
    app = CounterApp(CONFIG, 0)
    created = free()
    for event in sale:
        app.handle(event)
    after = free()
    assert app.last_sale_seq == 7
    if MICROPYTHON:
        print("INFO app_memory instance_bytes %d after_sale_bytes %d" % (
            before - created, before - after))
        assert 0 < before - after < 16384, before - after
