"""The person at the counter: reads the terminal's screen, scans, types, confirms, reads the
answer. It only uses what a person has (the screen's lines, the scanner, the keypad), so it
drives a terminal in this process and one on the MicroPython binary the same way.

Each sale becomes a Sale record: what was asked, and what the screen finally showed (approved
with its authorisation code, declined with the reason's text, an error, or never sent).
"""

import random
from dataclasses import dataclass

from fleet_server.service_layer.device_config import LABELS
from protocol.errors import CODES, text_fr
from protocol.text import ascii_fold, format_cents, wrap

RESULT_TITLES = ("VENTE ACCEPTEE", "VENTE REFUSEE", "ERREUR", "VENTE ANNULEE",
                 "ANNUL. REFUSEE")
WAIT_TITLES = ("ENVOI", "ANNULATION", "EN ATTENTE", "PAS DE REPONSE")
REPRESS_S = 1.5  # a key that changed nothing is pressed again after this long
STUCK_S = 20.0  # a sale that makes no progress before it is validated is given up
# Refusals shown before anything was sent, and the reason recorded for them.
NOTICES = {"HORS LIGNE": "offline", "EN ATTENTE": "busy", "CODE": "unreadable",
           "TERMINAL": "not_configured"}
# Of those, the refusals that can answer the validation itself (a cancel validated as the link
# dropped, or while an operation waits): unlike the offline idle screen and the "EN ATTENTE"
# of an operation recovered after a reboot, they offer "B: retour".
REFUSALS = ("HORS LIGNE", "EN ATTENTE")

_BY_TEXT = {" ".join(wrap(ascii_fold(text_fr(code)), 16)[:3]): code for code in CODES}


def reason_of(lines: list[str]) -> str:
    """The decline or error code whose French text the screen shows ("unknown" if none)."""
    body = [line for line in lines[2:5] if line and line != "Touche: suite"]
    return _BY_TEXT.get(" ".join(body), "unknown")


def _shows(lines: list[str], cents: int) -> bool:
    """Whether the confirm screen shows this amount (its fourth line)."""
    return len(lines) > 3 and lines[3].strip() == format_cents(cents)


def auth_of(lines: list[str]) -> str | None:
    for line in lines:
        if line.startswith("Auth"):
            return line.split()[-1]
    return None


@dataclass
class Sale:
    device_id: str
    kind: str  # the scenario's kind, or "void"
    token: str
    amount_cents: int
    category: str | None
    started: float
    confirmed: float | None = None  # when "A" validated it: latency starts here
    outcome: str | None = None  # approved | declined | error | not_sent | unresolved
    code: str | None = None
    auth: str | None = None
    voided: bool = False
    latency_ms: float | None = None
    void_of: "Sale | None" = None
    refused_at_scan: bool = False  # a coupon refused before any amount was asked


class Seller:
    def __init__(self, terminal, plan, scenario, rng: random.Random, now: float):
        self.t, self.plan, self.scenario, self.rng = terminal, list(plan), scenario, rng
        self.sales: list[Sale] = []
        self.current: Sale | None = None
        self.state = "think"
        self.next_at = now + rng.uniform(*scenario.think_s)
        self.pressed_at = 0.0
        self.pressed_on = None  # the title of the screen the last key was pressed on
        self.entered_at = now
        self.typed = False
        self.on_done = None  # called with each Sale once its outcome is known
        self.leaving = False  # a sale was given up: back to the idle screen first

    @property
    def done(self) -> bool:
        return self.state == "done"

    @property
    def waiting(self) -> bool:
        """A sale was validated and its answer is not on the screen yet."""
        return self.current is not None and self.current.confirmed is not None

    def _press(self, keys: str, now: float) -> None:
        self.t.press(keys)
        self.pressed_at = now
        self.pressed_on = (self.t.screen or [""])[0]

    def poll(self, now: float) -> None:
        lines = self.t.screen or [""]
        title = lines[0]
        if self.state == "think":
            self._think(now, title, lines)
        elif self.state in ("enter", "void"):
            self._enter(now, title, lines)

    def _think(self, now, title, lines):
        if self.leaving:
            if title != "PRET":
                if title != self.pressed_on or now - self.pressed_at > REPRESS_S:
                    self._press("B", now)
                return
            self.leaving = False
        if now < self.next_at:
            return
        if not self.plan:
            self.state = "done"
            return
        if title in RESULT_TITLES and now - self.pressed_at > REPRESS_S:
            self._press("B", now)  # an old answer still shown (after a reboot): dismiss it
            return
        if title != "PRET" or "Op. en attente" in lines:
            return  # offline, unconfigured or busy: a person waits before scanning
        planned = self.plan.pop(0)
        self.current = Sale(self.t.device_id, planned.kind, planned.token,
                            planned.amount_cents, planned.category, now)
        self.sales.append(self.current)
        self.state, self.entered_at, self.typed = "enter", now, False
        self.t.scan(planned.token)

    def _enter(self, now, title, lines):
        sale = self.current
        # A new screen is answered at once; the same screen only once a key had time to act.
        repress = title != self.pressed_on or now - self.pressed_at > REPRESS_S
        can_send = "Hors ligne!" not in lines
        if sale.confirmed is not None:  # validated: only the answer matters now
            if title in RESULT_TITLES:
                self._answer(now, title, lines)
            elif title in REFUSALS and "B: retour" in lines:
                # Nothing was sent and no answer will come: the notice goes back to the idle
                # screen by itself, where waiting for an answer would wait for ever.
                self._not_sent(now, NOTICES[title])
            elif title in ("CONFIRMER ?", "ANNULER ?") and repress and can_send:
                self._press("A", now)  # the link dropped as it was validated: again
            return
        if title in RESULT_TITLES and self.state == "enter":
            # A coupon refused as soon as it is scanned (its value asked first: used, out of
            # order, not in the agreement): an answer, though nothing was validated.
            sale.confirmed, sale.refused_at_scan = now, True
            self._answer(now, title, lines)
        elif title == "CATEGORIE ?" and repress:
            label = LABELS.get(sale.category or "", "")
            choice = next((line.split()[0] for line in lines[1:] if line.endswith(label)), "1")
            self._press(choice, now)
        elif title == "MONTANT" and not self.typed:
            self._press(str(sale.amount_cents), now)
            self.typed = True
        elif title == "MONTANT" and self.typed != "A":
            # Read the amount before validating it: the terminal refuses a digit over the
            # category's cap or the program maximum, and says which (lines 4-5).
            if _shows(lines, sale.amount_cents):
                self._press("A", now)
                self.typed = "A"
            elif _BY_TEXT.get(" ".join(line for line in lines[4:6] if line)):
                self._not_sent(now, _BY_TEXT[" ".join(line for line in lines[4:6] if line)])
        elif title == "CONFIRMER ?" and not _shows(lines, sale.amount_cents):
            self._not_sent(now, "amount_refused")  # not the amount asked for
        elif title in ("CONFIRMER ?", "ANNULER ?") and repress and can_send:
            self._press("A", now)
            sale.confirmed = now
        elif title == "MENU" and repress:
            if "3 Annuler vente" in lines:
                self._press("3", now)
            else:  # the terminal no longer knows the sale (rebooted): nothing to cancel
                self._not_sent(now, "no_sale_to_cancel")
        elif title in NOTICES and now - self.entered_at > 0.2:
            self._not_sent(now, NOTICES[title])
        elif now - max(self.entered_at, self.pressed_at) > STUCK_S:
            self._not_sent(now, "stuck_on_" + title.lower().replace(" ", "_")[:20])

    def _not_sent(self, now, code):
        self.current.outcome, self.current.code = "not_sent", code
        self.leaving = True  # "B" until the idle screen, from wherever the sale stopped
        self._next(now)

    def _answer(self, now, title, lines):
        sale = self.current
        sale.latency_ms = (now - sale.confirmed) * 1000
        if title in ("VENTE ACCEPTEE", "VENTE ANNULEE"):
            sale.outcome, sale.auth = "approved", auth_of(lines)
            if sale.void_of is not None:
                sale.void_of.voided = True
        else:
            sale.outcome = "declined" if title != "ERREUR" else "error"
            sale.code = reason_of(lines)
        if (title == "VENTE ACCEPTEE" and sale.kind == "valid"
                and self.rng.random() < self.scenario.void_after):
            self._report(sale)  # the sale is told before the cancel that follows it
            void = Sale(sale.device_id, "void", sale.token, sale.amount_cents, sale.category,
                        now, void_of=sale)
            self.sales.append(void)
            self.current, self.state, self.entered_at = void, "void", now
            self._press("D", now)  # dismiss and open the menu: "3" cancels the last sale
            return
        self._press("B", now)
        self._next(now)

    def _next(self, now):
        self._report(self.current)
        self.current, self.state = None, "think"
        self.next_at = now + self.rng.uniform(*self.scenario.think_s)

    def _report(self, sale) -> None:
        if self.on_done is not None:
            self.on_done(sale)

    def give_up(self) -> None:
        """End of the run: a sale still waiting for its answer is unresolved."""
        if self.current is not None and self.current.outcome is None:
            self.current.outcome = "unresolved"
