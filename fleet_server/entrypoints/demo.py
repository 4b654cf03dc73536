"""`fleet demo`: embedded broker, SQLite, demo data, the server, and demo terminals selling.

Until the simulator runs the real firmware here, the demo terminals are wire-level terminals
(simulator/wire_terminal.py): they sign and send real requests, a gentle sale every few seconds.
"""

import json
import random
import threading
from pathlib import Path

import paho.mqtt.client as mqtt

from fleet_server.demo import PARTNERS, seed_demo
from protocol import errors, text, topics
from simulator.wire_terminal import WireTerminal

DEMO_DIR = Path("demo-codes")


def run_demo(settings) -> int:
    import uvicorn

    from fleet_server.bootstrap import bootstrap, connect_broker
    from fleet_server.entrypoints.app import create_app
    from fleet_server.entrypoints.scheduler import start_scheduler

    fleet = bootstrap(settings)
    for line in seed_demo(fleet, DEMO_DIR):
        print(line)
    connect_broker(fleet)
    start_scheduler(fleet)
    stop = threading.Event()
    terminals = json.loads((DEMO_DIR / "terminals.json").read_text())
    for info in terminals:
        threading.Thread(target=_sell, args=(fleet.bus, info, stop), daemon=True).start()
    base = f"http://{settings.http_host}:{settings.http_port}"
    print(f"\nDemo running. API docs: {base}/docs   health: {base}/health")
    print(f"MQTT broker: {fleet.bus.host}:{fleet.bus.port}   database: {settings.db_url}")
    print(f"Demo codes to scan: {DEMO_DIR.resolve()}/codes.md   Stop with Ctrl-C.\n")
    try:
        uvicorn.run(create_app(fleet), host=settings.http_host, port=settings.http_port,
                    log_level="warning")
    finally:
        stop.set()
        fleet.close()
    return 0


def _codes_for(partner_id: str) -> list[tuple[str, int, str | None]]:
    codes = json.loads((DEMO_DIR / "codes.json").read_text(encoding="utf-8"))
    categories = next(p[3] for p in PARTNERS if p[0] == partner_id)
    choices = [(c["code"], random.choice([300, 500, 800]), categories[0])
               for c in codes if c["kind"] == "card"]
    # Vouchers and coupons of the partner's categories, at their value (coupons out of order
    # are refused, which the demo shows too).
    choices += [(c["code"], c["value_cents"], None) for c in codes
                if c["kind"] != "card" and c["category"] in categories]
    if "driving" in categories:
        choices = [c for c in choices if len(c[0]) != 12]
    return choices


def _sell(bus, info: dict, stop: threading.Event) -> None:
    wire = WireTerminal(info["device_id"], info["initial_key_id"],
                        bytes.fromhex(info["initial_key_hex"]))
    # Like a board, the terminal keeps its DUKPT state between runs: a counter is never reused.
    state_file = DEMO_DIR / f"{wire.device_id}.dukpt.json"
    if state_file.exists():
        wire.restore(json.loads(state_file.read_text()))
    results: dict[int, bytes] = {}
    got = threading.Condition()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=wire.device_id,
                         protocol=mqtt.MQTTv311, clean_session=False)

    def on_message(_c, _u, msg):
        with got:
            results[len(results)] = msg.payload
            got.notify_all()

    client.on_message = on_message
    client.connect(bus.host, bus.port)
    client.subscribe([(t, 1) for t in topics.device_filters(wire.device_id)])
    client.loop_start()
    codes = _codes_for(info["partner_id"])
    while not stop.wait(random.uniform(4, 9)):
        code, amount, category = random.choice(codes)
        pending = wire.debit(code, amount, category)
        state_file.write_text(json.dumps(wire.dukpt_state()))
        with got:
            results.clear()
            client.publish(pending.topic, pending.payload, qos=1)
            got.wait_for(lambda: results, timeout=10)
            payload = results.get(0)
        if payload is None:
            print(f"[{wire.device_id}] no answer for sale {pending.seq}")
            continue
        result = WireTerminal.read_result(pending, payload)
        shown = text.format_cents(amount)
        if result["st"] == "approved":
            print(f"[{wire.device_id}] {code} {shown}: approved, auth {result.get('auth')}")
        else:
            print(f"[{wire.device_id}] {code} {shown}: {errors.text_fr(result['code'])}")
    client.loop_stop()
    client.disconnect()
