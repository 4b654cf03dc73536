# The part of bench/firmware_core.py's run that comes after the idle figures: one full sale
# sampled step by step, three more sales, the time per signed request, and the report (one
# line "RESULT {json}"). Imported only once idle is measured, so that its names are not in the
# identifier count at idle; its own heap is measured as it loads ("sale_code_heap_bytes") and
# the sale figures are taken over what is live after that ("sale_base").
#
# The sale: the bench never collects; the firmware collects at its own points
# (Runtime._collect: on entering idle, before signing, after a key or a scan), and the heap is
# sampled just before each of those collections and after every loop step, so the peak is the
# most the heap held between two of the firmware's collections, garbage included. On the
# webassembly port collections happen at the next yield (see firmware_core.py): its peak is
# per loop step, an upper bound of the figure between collections.

import gc
import json
import sys
import time

import micropython

from protocol import auth, messages, topics


def run(runtime, drivers, vault, mqtt, card, n, board, idle_modules, collect, step, figures):
    mode, standins, word_bits, where, connected, image_start, baseline, imported, idle, \
        built = figures
    image_heap = baseline - image_start
    dev = vault.device_id
    yield collect
    sale_base = gc.mem_alloc()  # idle, plus this module and what it imports

    # ---- one full sale: sampled after each step and before each of the firmware's collections
    peak = [sale_base, ""]
    samples, collections = [], []
    current = [""]
    recording = [True]  # the first sale only

    def sample(what):
        if not recording[0]:
            return
        used = gc.mem_alloc()
        samples.append([what, used - sale_base])
        if used > peak[0]:
            peak[0], peak[1] = used, what

    def collect_hook(why):
        used = gc.mem_alloc()
        collections.append([current[0], why, used - sale_base])
        if used > peak[0]:
            peak[0], peak[1] = used, current[0] + " (before the collection: " + why + ")"
        gc.collect()

    def steps(what, count=1):
        current[0] = what
        for _ in range(count):
            runtime.step()
            sample(what)
            yield step

    def sale(number, done):
        """One sale (scan, 12,34, confirm, sign, publish, result, back to idle); done[0] is
        True if approved."""
        done[0] = False
        yield collect
        drivers["sim_uart"].scan(card)
        yield from steps("scan", 3)
        drivers["keypad"].press("1234")
        yield from steps("amount", 4)
        drivers["keypad"].press("A")
        yield from steps("confirm screen")
        drivers["keypad"].press("A")  # confirm: sign (KeyVault + auth.seal), journal, publish
        yield from steps("sign+journal+publish")
        entry = runtime.journal.get()
        sample("journal read")
        mqtt.service(5)
        sample("mqtt flush")
        yield step
        if entry is None:
            return
        # The server's answer, sealed with the result key as the server would.
        result = messages.build("debit_res", {"dev": dev, "seq": entry["seq"],
                                              "ts": drivers["clock"].now(), "st": "approved",
                                              "amt": 1234, "bal": 766, "auth": "A1B2C3",
                                              "rq": auth.request_mac(entry["payload"])})
        payload = auth.seal(result, entry["result_key"])
        result = entry = None
        yield collect  # that was the server's work: on the terminal it comes off the wire
        sample("result arrives")
        current[0] = "result shown"
        runtime._message(topics.topic(dev, "debit_res"), payload)
        payload = None
        sample("result shown")
        yield step
        drivers["keypad"].press("B")
        yield from steps("back to idle", 2)
        done[0] = runtime.sales == number and runtime.journal.get() is None

    out = {}
    sale_ok = more_ok = False
    if board == "unix_sim":  # the other boards' drivers have no twin to scan or type with
        done = [False]
        runtime._collect = collect_hook
        yield from sale(1, done)
        sale_ok, sale_peak = done[0], peak[0]
        del runtime._collect  # the firmware's own collections again
        recording[0] = False
        yield collect
        after_sale = gc.mem_alloc()
        # Three more sales: what stays live must not grow with every sale.
        more_ok = True
        for number in (2, 3, 4):
            yield from sale(number, done)
            more_ok = more_ok and done[0]
        yield collect
        after_4_sales = gc.mem_alloc()
        print("QSTR qstr_after_4_sales")
        micropython.qstr_info()
        out = {
            "sale_peak_heap_bytes": sale_peak - sale_base,
            "sale_peak_abs_bytes": sale_peak - image_heap,
            "sale_peak_step": peak[1],
            # live over the baseline, this module's own heap left out
            "after_sale_heap_bytes": after_sale - baseline - (sale_base - idle),
            "after_4_sales_heap_bytes": after_4_sales - baseline - (sale_base - idle),
            "sale_samples": samples,
            "sale_collections": collections,
            "imported_during_sale": [m for m in sys.modules if m not in idle_modules],
        }
        out.update(timings(vault, runtime.journal, dev, card, n))
        yield collect

    mqtt.disconnect()
    out.update({
        "mode": mode,
        "board": board,
        "faults": drivers["faults"],  # devices that did not start: {} when all did
        "scanner_state": getattr(drivers["scanner"], "state", None),
        "standins": standins,
        "word_bits": word_bits,
        "from": where,
        "connected": connected,
        "sale_ok": sale_ok,
        "more_sales_ok": more_ok,
        "romfs_image_heap_bytes": image_heap,
        "baseline_heap_bytes": baseline - image_heap,
        "imported_heap_bytes": imported - baseline,
        "idle_heap_bytes": idle - baseline,
        "idle_heap_abs_bytes": idle - image_heap,
        "sale_code_heap_bytes": sale_base - idle,
        "build_samples": built,
        "iterations": n,
    })
    print("RESULT " + json.dumps(out))


def timings(vault, journal, dev, card, n):
    """Mean time per signed debit request, and with its journal put and clear."""
    fields = {"tok": card, "amt": 1234, "cat": "books"}

    def signed_request():
        seq, request_key, result_key = vault.next_transaction()
        f = dict(fields)
        f["dev"], f["seq"], f["kid"], f["ts"] = dev, seq, vault.kid, 1760000000
        return seq, auth.seal(messages.build("debit_req", f), request_key), result_key

    sign_us = sign_journal_us = 0
    if n:
        gc.collect()
        t0 = time.ticks_us()
        for _ in range(n):
            signed_request()
        sign_us = time.ticks_diff(time.ticks_us(), t0) / n
        t0 = time.ticks_us()
        for _ in range(n):
            seq, payload, result_key = signed_request()
            journal.put(seq, "debit_req", topics.topic(dev, "debit_req"), payload, result_key)
            journal.clear(seq)
        sign_journal_us = time.ticks_diff(time.ticks_us(), t0) / n
    return {"sign_request_ms": round(sign_us / 1000, 3),
            "sign_journal_request_ms": round(sign_journal_us / 1000, 3)}
