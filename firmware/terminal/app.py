# The counter application: a pure state machine. The runtime feeds it events (keys, scans,
# ticks, network state, config, results) and carries out the actions it returns (screens,
# beeps, LED, debit/void/retransmit requests, log lines). No I/O and no clock in here: the time
# arrives in ("tick", now_ms), so every flow can be replayed in a test. See docs/firmware.md.
# now_ms is a ticks value: on a board it wraps (2**30 ms on MicroPython), so every elapsed time
# is ticks_diff(now, then), the runtime's, handed in like the time itself.

from protocol.errors import ProtocolError, text_fr
from protocol.tokens import parse_token
from terminal import screens
from terminal.keyentry import AmountEntry, CodeEntry, minus

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

RETRANSMIT_MS = const(5000)  # same bytes again while the answer is late
GIVE_UP_MS = const(30000)  # then tell the staff; the journal keeps the operation
SLOW_RETRANSMIT_MS = const(30000)  # after giving up, keep asking (the server may be back)
SENT_TIMEOUT_MS = const(15000)  # the runtime never said it sent: nothing was persisted
SCREEN_MS = const(20000)  # result and notice screens return to idle
ENTRY_TIMEOUT_MS = const(120000)  # a sale left half-typed is abandoned
_LOOKUP_MS = const(4000)  # a voucher's value not known by then: the clerk types the amount

# Not final: the ledger did not answer; the server keeps the request pending and answers a
# retransmission of the same bytes later (docs/protocol.md section 7).
RETRY_CODES = ("service_unavailable",)
# Update states during which the terminal cannot sell ("queued" and the final ones can).
UPDATE_ACTIVE = ("downloading", "verifying", "installing", "rebooting")

IDLE, MENU, CODE, CATEGORY, AMOUNT = "idle", "menu", "code", "category", "amount"
CONFIRM, VOID_CONFIRM, WAITING, NO_ANSWER = "confirm", "void_confirm", "waiting", "no_answer"
RESULT, NOTICE, UPDATE, LOOKUP = "result", "notice", "update", "lookup"
STATES = (IDLE, MENU, CODE, CATEGORY, AMOUNT, CONFIRM, VOID_CONFIRM, WAITING, NO_ANSWER,
          RESULT, NOTICE, UPDATE, LOOKUP)
_SALE_STATES = (CODE, CATEGORY, AMOUNT, CONFIRM, VOID_CONFIRM, LOOKUP)  # a sale being entered
_SHOWN = (RESULT, NOTICE, NO_ANSWER)  # screens read once, then back to idle
_OK = ("A", "#")


class CounterApp:
    def __init__(self, config=None, now_ms=0, ticks_diff=minus):
        self.config = config if isinstance(config, dict) else None
        self.diff = ticks_diff
        self.online = False  # until the runtime says otherwise: no sale on an unknown link
        self.now = self.shown_at = now_ms
        self.update_state = None
        self.state = IDLE
        self.screen = []
        self.led = None
        self.pending = None  # the one money operation awaiting its result (dict)
        self.last_sale = None  # (seq, cents, token line) of the last approved sale: voidable
        self.fixed = None  # lines of a result or notice screen
        self._clear_sale()

    @property
    def busy(self):
        """A sale is being entered or a money request is in flight: no restart, no update."""
        return self.state in _SALE_STATES or self.state == WAITING

    @property
    def last_sale_seq(self):
        return self.last_sale[0] if self.last_sale else None

    @property
    def pending_seq(self):
        return self.pending["seq"] if self.pending else None

    def handle(self, event):
        out = []
        ok = isinstance(event, tuple) and len(event) == 2
        on = getattr(self, "_on_" + str(event[0]), None) if ok else None
        if on is None:
            return [("log", "app: unknown event " + repr(event)[:40])]
        try:
            if not self.screen:
                self._go(self.state, out)  # the first event, whatever it is, shows idle
            on(event[1], out)
        except Exception as err:  # a bug must not stop the counter; the pending op is kept
            out.append(("log", "app error " + repr(err)))
            self._idle(out)
        return out

    # ---- events ----------------------------------------------------------------------------

    def _on_tick(self, now, out):
        delta = self.diff(now, self.now)
        if delta < 0:  # clock reset: keep every timer relative to the new origin
            self.shown_at += delta
            self.activity += delta
            self.code.pending_at += delta
            if self.pending:
                self.pending["first"] += delta
                self.pending["last"] += delta
        self.now = now
        if self.state == CODE and self.code.tick(now):
            self._render(out)
        p = self.pending
        if p is not None and p["seq"] is None:
            if self.diff(now, p["first"]) >= SENT_TIMEOUT_MS:
                out.append(("log", "app: request never sent, dropped"))
                self.pending = None
                self._notice(out, "ERREUR", "Envoi impossible, recommencez")
            return
        if p is not None:
            every = RETRANSMIT_MS if self.state == WAITING else SLOW_RETRANSMIT_MS
            if self.online and self.diff(now, p["last"]) >= every:
                out.append(("retransmit", p["seq"]))
                p["last"] = now
                p["tries"] += 1
                if self.state == WAITING:
                    self._render(out)
            if self.state == WAITING and self.diff(now, p["first"]) >= GIVE_UP_MS:
                out.append(("log", "app: no answer for seq " + str(p["seq"]) + ", kept"))
                return self._go(NO_ANSWER, out, "alert")
        if self.state in _SHOWN and self.diff(now, self.shown_at) >= SCREEN_MS:
            self._idle(out)
        elif self.state == LOOKUP and self.diff(now, self.shown_at) >= _LOOKUP_MS:
            # No answer (server or ledger down, or a server that predates lookups).
            out.append(("log", "app: no code value, amount typed"))
            self._go(AMOUNT, out)
        elif self.state in _SALE_STATES or self.state == MENU:
            if self.diff(now, self.activity) >= ENTRY_TIMEOUT_MS:
                out.append(("log", "app: sale abandoned after inactivity"))
                self._idle(out)

    def _on_key(self, k, out):
        self.activity = self.now
        s = self.state
        if not isinstance(k, str) or len(k) != 1 or s in (WAITING, UPDATE):
            return  # nothing to decide: the answer or the update is coming
        if s in _SHOWN:
            self._idle(out)  # any key dismisses; "D" goes on to the menu (cancel that sale)
            s = IDLE if k == "D" else None
        if s == IDLE:
            if k == "D":
                self._go(MENU, out, "click")
            elif k in "0123456789" and self._may_start(out):
                self._clear_sale()  # a digit on the idle screen starts typing a card code
                self.code.key(k, self.now)
                self._go(CODE, out, "click")
        elif s == MENU:
            if k in "12" and self._may_start(out):
                self._clear_sale()
                self.code = CodeEntry("card" if k == "1" else "voucher", self.diff)
                self._go(CODE, out, "click")
            elif k == "3":
                self._ask_void(out)
            elif k in "BD":
                self._idle(out)
        elif s == CODE:
            self._code_key(k, out)
        elif s == CATEGORY:
            self._category_key(k, out)
        elif s == AMOUNT:
            self._amount_key(k, out)
        elif s == LOOKUP and k == "B":
            self._idle(out)
        elif s == LOOKUP and k in "0123456789":
            self._amount_key(k, out)  # the clerk types the amount: no need to wait
        elif s == CONFIRM and k in _OK:
            cat = self.cat.get("c") if self.cat else None
            self._send(("debit", self.token, self.amount.cents, cat), out)
        elif s == CONFIRM and k == "B":
            self._go(AMOUNT, out, "click")
        elif s == VOID_CONFIRM and k in _OK:
            self._send(("void", self.last_sale[0]), out)
        elif s == VOID_CONFIRM and k == "B":
            self._idle(out)

    def _on_scan(self, text, out):
        self.activity = self.now
        if self.state not in (IDLE, MENU, CODE) + _SHOWN:
            return out.append(("log", "app: scan ignored in " + self.state))
        if self._may_start(out):
            try:
                kind, code = parse_token(text)
            except ProtocolError as err:
                return self._notice(out, "CODE", text_fr(err.code))
            self._start_sale(kind, code, out)

    def _on_net(self, online, out):
        online = bool(online)
        if online == self.online:
            return
        self.online = online
        p = self.pending
        if online and p is not None and p["seq"] is not None:
            out.append(("retransmit", p["seq"]))  # back online: ask again at once, same seq
            p["last"] = self.now
        if self.state in (IDLE, CONFIRM):
            self._render(out)
        self._set_led(out)

    def _on_config(self, cfg, out):
        if isinstance(cfg, dict):
            self.config = cfg  # a sale being entered keeps the categories it started with
            if self.state == IDLE:
                self._render(out)

    def _on_sent(self, seq, out):
        p = self.pending
        if p is None:
            # The runtime found a pending operation in its journal (after a reboot).
            self._pend(None, seq, 0)
            if self.state in (IDLE, MENU) + _SHOWN:
                self._go(WAITING, out)
        elif p["seq"] is None:
            p["seq"] = seq
            p["first"] = p["last"] = self.now
        elif p["seq"] != seq:
            out.append(("log", "app: sent seq " + str(seq) + " but pending " + str(p["seq"])))

    def _on_unsent(self, code, out):
        # The runtime would not send the pending request (its clock is not set yet): nothing
        # left the terminal, so the sale simply did not happen; say why at once.
        if self.pending is not None and self.pending["seq"] is None:
            self.pending = None
            self._notice(out, "ERREUR", text_fr(code))

    def _on_result(self, msg, out):
        p = self.pending
        seq = msg.get("seq") if isinstance(msg, dict) else None
        if (p is None or not isinstance(msg, dict)
                or (p["seq"] is not None and seq is not None and seq != p["seq"])):
            return out.append(("log", "app: result for seq " + str(seq) + " not pending"))
        st, code = msg.get("st"), msg.get("code") or ""
        seq = p["seq"] if seq is None else seq
        if st == "error" and code in RETRY_CODES:
            out.append(("log", "app: " + code + " for seq " + str(seq) + ", retrying"))
            p["note"] = "Service indispo."
            if self.state == WAITING:
                self._render(out)
            return
        is_void = msg.get("t") == "void_res" or p["kind"] == "void"
        cents = msg.get("amt", p["cents"])
        self.pending = None
        out.append(("log", "app: seq " + str(seq) + " " + str(st) + " " + code))
        if st == "approved" and is_void:
            self.last_sale = None
            self.fixed = screens.voided(cents, msg.get("auth"))
        elif st == "approved":
            self.last_sale = (seq, cents, p["tok"]) if seq is not None else None
            self.fixed = screens.approved(cents, msg.get("bal"), msg.get("auth"))
        elif code == "voucher_amount" and cents and self.token and not is_void:
            # A coupon has one value and the refusal carries it: shown and pre-filled, the
            # clerk confirms it rather than typing it again.
            self.amount.cents = cents
            self.error = text_fr(code)
            return self._go(CONFIRM, out, "alert")
        else:
            if st == "declined" and is_void:
                self.last_sale = None  # the ledger refused it: asking again changes nothing
            self.fixed = screens.declined(code or "internal_error", is_void, st != "declined",
                                          cents if st == "declined" else 0)
        ok = st == "approved"
        self._go(RESULT, out, "happy" if ok else "sad", "ok" if ok else "fail")

    def _on_code(self, msg, out):
        # What the scanned voucher is worth (code_res; its MAC and nonce checked by the
        # runtime). Ignored unless it is the voucher on screen and the terminal still asks.
        if self.state != LOOKUP or not isinstance(msg, dict) or msg.get("tok") != self.token:
            return out.append(("log", "app: code value not asked"))
        code = msg.get("code")
        if code in RETRY_CODES or code == "internal_error":
            return self._go(AMOUNT, out)  # nothing known: typed as before, the ledger decides
        if code:  # used, out of order, not in the agreement...: said at once, no amount
            self.fixed = screens.declined(code, False, False)
            return self._go(RESULT, out, "sad", "fail")
        cents = msg.get("amt") or 0
        if 0 < cents <= self.amount.max_cents:
            # Shown and pre-filled: the clerk confirms the value with one key ("B" corrects).
            self.amount.cents = cents
            return self._go(CONFIRM, out, "click")
        self._go(AMOUNT, out)  # over the program's maximum: typed, and refused, as before

    def _on_update(self, st, out):
        self.update_state = st
        if st in UPDATE_ACTIVE:
            if self.busy:
                out.append(("log", "app: update " + str(st) + " while busy"))
            elif self.state != RESULT:
                self._go(UPDATE, out)
        elif self.state in (UPDATE, IDLE):
            self._idle(out)

    # ---- keys within a sale ----------------------------------------------------------------

    def _code_key(self, k, out):
        if k in _OK:
            self.code.commit()
            try:
                kind, code = parse_token(self.code.value())
            except ProtocolError as err:  # stay: "*" corrects the typo
                typo = err.code == "code_unreadable"  # typed, not misread by the scanner
                self.error = text_fr("code_mistyped" if typo else err.code)
                return self._go(CODE, out, "sad")
            self._start_sale(kind, code, out)
        elif k == "B":
            self._idle(out)
        else:
            self.error = ""
            self._go(CODE, out, "click" if self.code.key(k, self.now) else "alert")

    def _category_key(self, k, out):
        if k == "B":
            self._idle(out)
        elif k == "0" and len(self.cats) > 7:
            self.page = 1 - self.page
            self._go(CATEGORY, out, "click")
        elif "1" <= k <= "9" and int(k) <= len(self.cats):
            self._pick(self.cats[int(k) - 1])
            self._go(AMOUNT, out, "click")
        else:
            out.append(("beep", "alert"))

    def _amount_key(self, k, out):
        if k in _OK:
            ok = self.amount.cents > 0
            self.error = "" if ok else text_fr("amount_invalid")
            self._go(CONFIRM if ok else AMOUNT, out, "click" if ok else "alert")
        elif k == "B":
            if len(self.cats) > 1:
                self._go(CATEGORY, out, "click")
            else:
                self._idle(out)
        else:
            ok = self.amount.key(k)  # the cap or amax, whichever is lower, checked here
            cap = self.cat.get("cap") if self.cat else None
            over = "over_purchase_cap" if cap == self.amount.max_cents else "amount_over_max"
            self.error = "" if ok else text_fr(over)
            self._go(AMOUNT, out, "click" if ok else "alert")

    # ---- steps -----------------------------------------------------------------------------

    def _may_start(self, out, what=None):
        """Whether a sale or (what "void") a cancellation may start now; if not, the screen
        says why."""
        if self.config is None:
            self._notice(out, "TERMINAL", "Terminal non configuré")
        elif self.update_state in UPDATE_ACTIVE:
            self._go(UPDATE, out, "sad")
        elif not self.online:
            self._notice(out, None, screens.offline_refusal(what))  # never queued for later
        elif self.pending is not None:
            self._notice(out, None, screens.busy_refusal(what))
        else:
            return True
        return False

    def _start_sale(self, kind, code, out):
        self._clear_sale()
        self.kind, self.token = kind, code
        # A voucher's category is known to the ledger: only a card may need the question.
        cats = (self.config.get("cats") or []) if kind == "card" else []
        self.cats = [c for c in cats if isinstance(c, dict) and c.get("c")][:8]
        self._pick(self.cats[0] if len(self.cats) == 1 else None)
        if kind != "card":  # a voucher has one value: ask it, the runtime sends a code_req
            out.append(("lookup", code))
            return self._go(LOOKUP, out, "click")
        self._go(CATEGORY if len(self.cats) > 1 else AMOUNT, out, "click")

    def _pick(self, cat):
        # The category's per-purchase cap bounds the amount typed, when below the program's.
        self.cat = cat
        most = self.config.get("amax", 99999999)
        cap = cat.get("cap") if cat else None
        self.amount = AmountEntry(cap if cap and cap < most else most)

    def _ask_void(self, out):
        if self.last_sale is None:
            self._notice(out, "ANNULATION", "Aucune vente à annuler")
        elif self._may_start(out, "void"):
            self._go(VOID_CONFIRM, out, "click")

    def _send(self, action, out):
        if not self.online or self.pending is not None:
            # Nothing is ever queued. A debit stays on its confirm screen, which says why, to
            # be validated once the link is back.
            if action[0] == "debit":
                self._go(CONFIRM, out, "sad")
            else:
                self._may_start(out, "void")
            return
        out.append(action)
        if action[0] == "debit":
            cents = self.amount.cents
            self.last_sale = None  # only the newest sale may be cancelled
        else:
            cents = self.last_sale[1]
        self._pend(action[0], None, cents)
        if action[0] == "debit":  # named again by the cancel confirmation
            self.pending["tok"] = screens.token_line(self.kind, self.token)
        self._go(WAITING, out, "click")

    # ---- state and screens -----------------------------------------------------------------

    def _pend(self, kind, seq, cents):
        # kind None: an operation the runtime found in its journal; its amount is unknown.
        self.pending = {"kind": kind, "seq": seq, "cents": cents, "first": self.now,
                        "last": self.now, "tries": 1, "note": "", "tok": ""}

    def _clear_sale(self):
        self.kind = self.token = self.cat = None
        self.cats = []
        self.page = 0
        self.error = ""
        self.code = CodeEntry("card", self.diff)
        self.amount = AmountEntry(0)
        self.activity = self.now

    def _idle(self, out):
        self._clear_sale()
        self._go(UPDATE if self.update_state in UPDATE_ACTIVE else IDLE, out)

    def _notice(self, out, title, text):
        """Error and refusal screens: a sad beep, then back to idle on a key or after a while."""
        self.fixed = screens.message(title, text) if title else text
        self._go(NOTICE, out, "sad")

    def _go(self, state, out, beep=None, led=None):
        if state != self.state or state in _SHOWN:
            self.shown_at = self.now
        self.state = state
        self._render(out)
        if beep:
            out.append(("beep", beep))
        self._set_led(out, led)

    def _set_led(self, out, led=None):
        led = led or screens.led_for(self)
        if led != self.led:
            self.led = led
            out.append(("led", led))

    def _render(self, out):
        self.screen = screens.for_state(self)
        out.append(("show", self.screen))
