# The terminal's loop: drivers -> events -> CounterApp -> actions -> drivers and MQTT.
#
# Everything with I/O lives here (the app is pure). One step never blocks for more than a few
# milliseconds, so the keypad and the screen stay responsive while MQTT reconnects.
# Money requests: the DUKPT state is advanced and persisted (KeyVault), then the signed payload
# and its result key are put in the journal, and only then published. A reboot between send
# and result finds the journal entry and asks again with the same bytes.
# Memory: the loop collects garbage at known points (_collect): on entering the idle screen,
# after a key or a scan (human pace: a collection of the board's ~110 KB heap takes a few ms),
# after a message, and while signing and checking a result, so the heap a sale needs is its
# live data plus the garbage of one step (docs/firmware.md, "Memory on the board").

import gc
import random
import sys

from protocol import auth, exchange, messages, topics
from protocol.errors import ProtocolError
from terminal import heartbeat
from terminal.app import CounterApp

FW_VERSION = "0.1.0"
# CPython (the simulator's fast mode) frees by reference counting: its gc.collect() only finds
# cycles and takes far longer on a big process, so the collection points are MicroPython's.
_COLLECTS = sys.implementation.name == "micropython"


class Runtime:
    def __init__(self, drivers, vault, journal, log, mqtt, ticks_ms, ticks_diff, now_s,
                 config=None, boots=1, reset_cause="power_on", on_restart=None, fw=FW_VERSION,
                 on_config=None):
        self.d, self.vault, self.journal, self.log = drivers, vault, journal, log
        self.mqtt, self.ticks_ms, self.ticks_diff, self.now_s = mqtt, ticks_ms, ticks_diff, now_s
        self.dev = vault.device_id
        self.fw, self.boots, self.reset_cause = fw, boots, reset_cause
        self.on_restart, self.on_config = on_restart, on_config
        self.started_ms = ticks_ms()
        self.config = config
        self.app = CounterApp(config, self.started_ms, ticks_diff)
        self.commands = None  # CommandHandler, imported with the first command (RAM)
        self.online = False
        self.restart_pending = False
        self.sales = 0
        self.last_error = None
        self.hb_every_ms = ((config or {}).get("hb") or 60) * 1000
        self.hb_last, self._asks = None, 0
        self.result_types = {topics.topic(self.dev, "debit_res"): "debit_res",
                             topics.topic(self.dev, "void_res"): "void_res"}
        self._was_idle = True
        self.lookup = None  # the MAC of the code_req awaiting its answer (a voucher's value)
        # Firmware updates (terminal/update/): the agent is imported only when an update is in
        # flight; main.py sets update_root (the data directory) and boot_info (boot selector).
        self.updater = None
        self.update_root = None
        self.boot_info = None
        self.update_topics = (topics.topic(self.dev, "update_offer"),
                              topics.topic(self.dev, "update_chunk"))
        mqtt.on_connect = self._connected
        mqtt.on_disconnect = self._disconnected
        mqtt.on_message = self._message
        for name in topics.device_filters(self.dev):
            mqtt.subscribe(name, 1)

    # ---- start and loop --------------------------------------------------------------------
    def start(self):
        now = self.ticks_ms()
        self._do(self.app.handle(("tick", now)))
        entry = self.journal.get()
        if entry:  # a request whose result never came: ask again with the very same bytes
            self.log.add("journal: pending seq %d" % entry["seq"])
            self._do(self.app.handle(("sent", entry["seq"])))
            self.mqtt.publish(entry["topic"], entry["payload"], 1)

    def step(self):
        now = self.ticks_ms()
        wifi = self.d.get("wifi")
        if wifi is not None and hasattr(wifi, "tick"):
            wifi.tick(now)
        self.mqtt.service()
        key = self.d["keypad"].poll(now)
        if key:
            self._do(self.app.handle(("key", key)))
            self._collect("key")
        line = self.d["scanner"].poll()
        if line:
            self._do(self.app.handle(("scan", line)))
            self._collect("scan")
        self._do(self.app.handle(("tick", now)))
        idle = self.app.state == "idle"
        if idle and not self._was_idle:
            self._collect("idle")
        self._was_idle = idle
        for name in ("buzzer", "led"):
            device = self.d.get(name)
            if device is not None and hasattr(device, "tick"):
                device.tick(now)
        if self.online and (self.hb_last is None or self.ticks_diff(now, self.hb_last) >= (
                self.hb_every_ms if self.config else 10000)):
            if self.hb_last is not None and self.config is None:
                # Still no configuration: it answers our "online", which may have been lost
                # (the server that had it died), or a broker cluster's node may deliver
                # nothing on a moved session's subscription: say it again twice, then
                # reconnect (to the next node, subscribing again).
                self._asks += 1
                if self._asks % 3:
                    self._announce()
                else:
                    self.mqtt._drop(now, OSError(110, "no configuration"))
            self.hb_last = now
            self._heartbeat(now)
        if self.updater is not None:
            self.updater.step(now)
        if self.restart_pending and not self.app.busy and self.on_restart:
            self.log.add("restart on command")
            self.on_restart()

    # ---- MQTT callbacks -----------------------------------------------------------------------
    def _connected(self):
        self.online = True
        self._announce()
        self._do(self.app.handle(("net", True)))
        if self.updater is not None:
            self.updater.connected()

    def _announce(self):
        # Before the first NTP sync a board's clock says 2000: the status goes out anyway.
        ts = max(self.now_s(), messages.TS_MIN)
        status = messages.build("status", {"dev": self.dev, "ts": ts, "st": "online",
                                           "fw": self.fw})
        self.mqtt.publish(topics.topic(self.dev, "status"), messages.encode(status), 1, True)

    def _disconnected(self):
        self.online = False
        self._do(self.app.handle(("net", False)))

    def stop(self):
        """A clean stop. The clean DISCONNECT makes the broker drop the last will, so the
        terminal says "offline" itself first (retained, as the will would): the support desk
        sees it leave at once rather than after a few silent heartbeats."""
        if self.online:
            status = messages.build("status", {"dev": self.dev, "st": "offline",
                                               "ts": max(self.now_s(), messages.TS_MIN)})
            self.mqtt.publish(topics.topic(self.dev, "status"), messages.encode(status), 0,
                              True)
        self.mqtt.disconnect()

    def _message(self, topic, payload):
        try:
            if topic in self.result_types:
                self._result(self.result_types[topic], payload)
            elif topic == topics.topic(self.dev, "code_res"):
                message = messages.parse(payload, "code_res")
                # Bound to the last scan's request (its nonce is under that MAC): an answer
                # kept from an earlier scan, or made without our command key, is refused.
                exchange.check_result(message, self.vault.command_key, self.lookup or "")
                self.lookup = None
                self._do(self.app.handle(("code", message)))
            elif topic == topics.topic(self.dev, "config"):
                self._config(payload)
            elif topic == topics.topic(self.dev, "command"):
                self._command(payload)
            elif topic in self.update_topics and self.update_root is not None:
                self.start_updater().message(topic, payload)
        except ProtocolError as err:  # hostile or stale input: logged, never fatal
            self.last_error = err.code
            self.log.add("refused %s: %s" % (topic[-10:], err))
        self._collect("message")

    def _result(self, mtype, payload):
        entry = self.journal.get()
        message = messages.parse(payload, mtype)
        if entry is None or message["seq"] != entry["seq"]:
            self.log.add("result for seq %d not pending" % message["seq"])
            return
        # Bound to the pending request, not only to its counter: a result the server made
        # for a forged request with our counter is refused (no answer: we ask again).
        exchange.check_result(message, entry["result_key"], entry["payload"])
        entry = None  # its payload copy and result key: garbage from here
        self._collect("verified")  # parsing and MAC garbage, before the screen is drawn
        if message.get("code") != "service_unavailable":  # the only result that is not final
            self.journal.clear(message["seq"])
        if message["st"] == "approved" and mtype == "debit_res":
            self.sales += 1
        self._do(self.app.handle(("result", message)))

    def _config(self, payload):
        message = messages.parse(payload, "config")
        auth.verify(message, self.vault.command_key)
        if message["dev"] != self.dev:
            raise ProtocolError("bad_topic", "config for another device")
        self.config = message
        if self.on_config:  # kept on flash: an offline boot still knows its partner
            self.on_config(message)
        self.hb_every_ms = message["hb"] * 1000
        self._do(self.app.handle(("config", message)))

    def _command(self, payload):
        if self.commands is None:
            from terminal.commands import CommandHandler
            root = getattr(self.vault, "root", None)  # the command high-water mark's folder
            self.commands = CommandHandler(self.dev, self.vault.command_key, self.now_s,
                                           mark=root and root + "/cmd.json")
        context = {"diagnostics": self.diagnostics, "logs": self.log.tail,
                   "install_key": getattr(self.vault, "install_key", None)}
        reply = self.commands.handle(payload, context)
        if reply is None:
            return
        reply_topic, reply_payload, effect = reply
        if reply_payload:
            self.mqtt.publish(reply_topic, reply_payload, 1)
        if effect and effect[0] == "restart":
            self.restart_pending = True
        elif effect and effect[0] == "set_config" and "hb" in effect[1]:
            self.hb_every_ms = effect[1]["hb"] * 1000
        elif effect and effect[0] == "rekey":  # the vault already signs with the new key
            self.log.add("rekey: key id %s" % effect[1])

    # ---- actions --------------------------------------------------------------------------------
    def _do(self, actions):
        unsent = None
        for action in actions:
            kind = action[0]
            if kind == "show":
                self.d["display"].show(action[1])
            elif kind in ("beep", "led"):
                device = self.d.get("buzzer" if kind == "beep" else "led")
                if device is not None:
                    device.play(action[1], self.ticks_ms())
            elif kind in ("debit", "void") and self.now_s() < messages.TS_MIN:
                # A clock never set (no NTP yet): the server would refuse the request's time,
                # so no counter is spent and the counter staff is told why (once the app's
                # own actions of this event, its "waiting" screen among them, are done).
                self.log.add("money request refused: clock not set")
                unsent = "ts_out_of_window"
            elif kind == "debit":
                fields = {"tok": action[1], "amt": action[2]}
                if action[3]:
                    fields["cat"] = action[3]
                self._send("debit_req", fields)
            elif kind == "void":
                self._send("void_req", {"oseq": action[1]})
            elif kind == "lookup" and self.online and self.now_s() >= messages.TS_MIN:
                # A voucher's value before the amount (docs/protocol.md, code lookups): MACed
                # with the command key, no DUKPT counter spent, a fresh nonce per scan. Not
                # sent, or not answered: the app has the amount typed after its timeout.
                payload, self.lookup = exchange.seal_request("code_req", {
                    "dev": self.dev, "ts": self.now_s(), "tok": action[1],
                    "id": "%08x%08x" % (random.getrandbits(30), random.getrandbits(30))},
                    self.vault.command_key)
                self.mqtt.publish(topics.topic(self.dev, "code_req"), payload, 1)
            elif kind == "retransmit":
                entry = self.journal.get()
                if entry and entry["seq"] == action[1]:
                    self.mqtt.publish(entry["topic"], entry["payload"], 1)
                    p = self.app.pending
                    if p and p["tries"] % 6 == 0:
                        # Asked six times (25 s), no answer: the connection may deliver nothing
                        # (a broker cluster's node can keep a moved session's subscription
                        # dead). A new one, on the next node, subscribes again. Not sooner: a
                        # slow server is no reason to reconnect. Counted once more, so the
                        # ask that follows the reconnection does not drop it again.
                        p["tries"] += 1
                        self.mqtt._drop(self.ticks_ms(), OSError(110, "no answer"))
            elif kind == "log":
                self.log.add(action[1])
        if unsent:
            self._do(self.app.handle(("unsent", unsent)))

    def start_updater(self):
        if self.updater is None:
            from terminal.update.agent import UpdateAgent

            self.updater = UpdateAgent(self, self.update_root, self.boot_info)
        return self.updater

    def _collect(self, why):
        # `why` names the point (idle, key, scan, message; sign, keys, sealed while signing;
        # verified for a result): the bench samples the heap here, just before the collection
        # (bench/firmware_core.py).
        if _COLLECTS:
            gc.collect()

    def _send(self, mtype, fields):
        # Order matters for "never charged twice, never a reused counter": persist the DUKPT
        # state (inside next_transaction), then the journal, then publish.
        self._collect("sign")
        seq, request_key, result_key = self.vault.next_transaction()
        self._collect("keys")  # the DUKPT derivation's garbage: AES schedules, registers
        fields["dev"], fields["seq"], fields["kid"] = self.dev, seq, self.vault.kid
        fields["ts"] = self.now_s()
        payload = exchange.seal_request(mtype, fields, request_key)[0]
        del request_key, fields
        self._collect("sealed")
        topic = topics.topic(self.dev, mtype)
        self.journal.put(seq, mtype, topic, payload, result_key)
        self.mqtt.publish(topic, payload, 1)
        del payload, result_key
        self._do(self.app.handle(("sent", seq)))

    def _heartbeat(self, now):
        gc.collect()
        entry = self.journal.get()
        wifi = self.d.get("wifi")
        scanner = self.d["scanner"]
        topic, payload = heartbeat.build_heartbeat(
            self.dev, self.now_s(), self.ticks_diff(now, self.started_ms) // 1000,
            gc.mem_free() if hasattr(gc, "mem_free") else 0, self.fw, self.boots,
            self.reset_cause, entry["seq"] if entry else 0,
            getattr(scanner, "state", "absent"),
            rssi=wifi.rssi() if wifi is not None and hasattr(wifi, "rssi") else None,
            last_error=self.last_error, sales=self.sales)
        self.mqtt.publish(topic, payload, 0)

    def diagnostics(self):
        scanner = self.d["scanner"]
        clock = self.d.get("clock")
        gc.collect()
        free = gc.mem_free() if hasattr(gc, "mem_free") else 0
        return {
            "network": {"ok": self.online},
            "scanner": {"ok": getattr(scanner, "state", "absent") == "ok",
                        "state": getattr(scanner, "state", "absent")},
            "display": {"ok": "display" not in self.d.get("faults", {})},
            "keypad": {"ok": "keypad" not in self.d.get("faults", {})},
            "clock": {"ok": bool(getattr(clock, "synced", True)),
                      "drift_s": getattr(clock, "drift_s", 0) or 0},
            "memory": {"ok": free == 0 or free > 20000, "free": free},
            "journal": {"ok": True, "pending": (self.journal.get() or {}).get("seq", 0)},
        }
