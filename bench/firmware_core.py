# Firmware memory and signing time, measured on MicroPython from the .mpy set that
# provisioning/firmware_build.py produces. Started by bench/firmware.py (compiled to .mpy
# itself, so that the driver's own source is not compiled on the heap):
#   micropython -X heapsize=H -c "import firmware_core" <parameters.json>
# The parameters file holds one JSON list: mode, image or .mpy dir, data dir, broker host and
# port, signing iterations, device id, card code, board. (One file rather than many arguments:
# the unix port interns every argument in its identifier pools, which are what is measured.)
# Modes: rom, the packages imported from a ROMFS image mounted at /rom (code runs in place, as
# from a board's romfs partition); files, from the .mpy files, whose bytecode is copied to the
# heap at import; wasm, MicroPython's webassembly port (32-bit), run by bench/firmware_wasm.mjs
# with the image as its romfs (outside the GC heap, like a board's flash) and the stand-ins of
# bench/wasm_standins.py for what that port lacks (socket: an MQTT broker in memory; cryptolib:
# AES in Python). Board: unix_sim (the simulated twins; the sale is measured too) or esp32_gm65
# (the board's real drivers on the hardware stand-ins of bench/board_standins.py: idle only).
# Prints "QSTR <key>" + micropython.qstr_info() at the baseline, after the imports and at idle,
# then one line "RESULT {json}". Only MicroPython-safe syntax and modules.
#
# Heap figures are gc.mem_alloc(). Idle figures: after gc.collect() (what is live). This file
# goes as far as idle; what comes after (a sale, the timings, the report) is
# bench/firmware_after_idle.py, imported only once the idle figures are taken, so that its
# names are not in the identifier count at idle (on a board main.py stands where this is).
# Locals rather than globals here for the same reason: a local's name is not interned.
#
# The measurement is the generator run(): it yields COLLECT where the bench collects and STEP
# after each loop step of the sale. The unix binary drives it right here (gc.collect() at
# COLLECT, nothing at STEP). The webassembly port cannot scan its own stack, so a gc.collect()
# called from Python only takes effect once control is back in JavaScript: there node drives
# the generator, one advance() per yield, and every collection (the bench's, and the
# firmware's, requested inside a step) happens at the next yield.

import gc
import sys

import micropython

COLLECT, STEP = 1, 2


def _qstrs(label):
    print(label)  # "QSTR qstr_at_<when>", the key bench/firmware.py files the line under
    micropython.qstr_info()  # "qstr pool: n_pool=.., n_qstr=..": read by bench/firmware.py


def run():  # noqa: C901 (one measurement, step by step)
    import json
    with open(sys.argv[1]) as f:
        mode, source, data, host, port, n, dev, card, board = json.load(f)
    yield COLLECT
    image_start = gc.mem_alloc()
    image, standins = None, []
    if mode == "rom":
        import vfs

        # On the unix port the image is read into a bytes object on the heap; on a board the
        # romfs partition is memory-mapped flash. Measured here, left out of every figure.
        with open(source, "rb") as f:
            image = f.read()
        vfs.mount(vfs.VfsRom(image), "/rom")
        source = "/rom"
    elif mode == "wasm":
        import wasm_standins
        standins = wasm_standins.install()  # source: the port's own /rom mount of the image
    if board != "unix_sim":
        import board_standins
        standins += board_standins.install()
    # The firmware from the image or the .mpy set, never the sources; then this bench.
    sys.path[:] = [source, __file__.rsplit("/", 1)[0]]
    yield COLLECT
    baseline = gc.mem_alloc()  # this script (and the image), nothing of the firmware yet
    _qstrs("QSTR qstr_at_baseline")

    import time

    from terminal import app
    from terminal.boards import build_drivers, load
    from terminal.journal import Journal
    from terminal.keys import KeyVault
    from terminal.mqtt.client import MQTTClient
    from terminal.ringlog import RingLog
    from terminal.runtime import Runtime

    from protocol import messages, topics

    yield COLLECT
    imported = gc.mem_alloc()
    _qstrs("QSTR qstr_at_imported")
    built = []  # live heap (after gc.collect) over the imports, as each piece is built

    # Fixed test keys: never a real device's.
    KeyVault.provision(data, dev, "0123456789abcdef", "00112233445566778899aabbccddeeff",
                       "42" * 32)
    drivers = build_drivers(load(board), {"storage_root": data})
    yield COLLECT
    built.append(["drivers (" + board + " board)", gc.mem_alloc() - imported])
    vault = KeyVault(data)
    yield COLLECT
    built.append(["KeyVault", gc.mem_alloc() - imported])
    socket_factory = None
    if mode == "wasm":  # no sockets on that port: the session runs over the in-memory broker
        import wasm_standins
        socket_factory = wasm_standins.connect
    mqtt = MQTTClient(dev, host, port, keepalive=30, clean_session=True,
                      socket_factory=socket_factory,
                      will=(topics.topic(dev, "status"), messages.encode(messages.build(
                          "status", {"dev": dev, "ts": messages.TS_MIN, "st": "offline"})),
                          1, True))
    runtime = Runtime(drivers, vault, Journal(data), RingLog(data), mqtt, time.ticks_ms,
                      time.ticks_diff, drivers["clock"].now,
                      config={"partner": "Banc d'essai", "amax": 15000, "hb": 60,
                              "cats": [{"c": "books", "l": "Livres"}]})
    yield COLLECT
    built.append(["MQTT client + Runtime + CounterApp", gc.mem_alloc() - imported])
    runtime.start()

    start = time.ticks_ms()
    connected = True
    while not (runtime.online and not mqtt._sub_wait and not mqtt.pending()):
        if time.ticks_diff(time.ticks_ms(), start) > 10000:
            connected = False
            break
        runtime.step()
        mqtt.service(5)
    for _ in range(20):  # first heartbeat and status out, screens settled
        runtime.step()
        mqtt.service(2)
    yield COLLECT
    built.append(["connected, subscribed, idle", gc.mem_alloc() - imported])
    idle_modules = list(sys.modules)
    yield COLLECT
    idle = gc.mem_alloc()
    _qstrs("QSTR qstr_at_idle")

    import firmware_after_idle

    yield from firmware_after_idle.run(
        runtime, drivers, vault, mqtt, card, n, board, idle_modules, COLLECT, STEP,
        [mode, standins, 32 if sys.maxsize < 1 << 32 else 64, app.__file__, connected,
         image_start, baseline, imported, idle, built])


_RUN = run()


def advance():
    """One stretch of the run, up to its next yield (collecting at COLLECT); False at the end.
    On the webassembly port each call returns to JavaScript, where the collection happens."""
    try:
        if next(_RUN) == COLLECT:
            gc.collect()
    except StopIteration:
        return False
    return True


if sys.platform != "webassembly":  # there bench/firmware_wasm.mjs calls advance() itself
    while advance():
        pass
