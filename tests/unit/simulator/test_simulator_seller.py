"""The seller reads the real CounterApp's screens and types on its keypad, as staff would.

The app here is the firmware's own (terminal/app.py) behind a stand-in for the runtime that
answers each request at once, so every screen the seller reads is one the terminal draws."""

import random

from simulator.firmware import add_firmware_path

add_firmware_path()

from terminal import screens  # noqa: E402
from terminal.app import CounterApp  # noqa: E402

from protocol import tokens  # noqa: E402
from simulator.scenario import from_dict  # noqa: E402
from simulator.seller import Seller, auth_of, reason_of  # noqa: E402
from simulator.world import PlannedSale  # noqa: E402

CARD = tokens.make_card("97310000001")
UNKNOWN = tokens.make_card("97319999999")
VOUCHER = tokens.make_voucher("BK000001")
CONFIG = {"partner": "Librairie", "amax": 30000,  # 300,00 EUR
          "cats": [{"c": "books", "l": "Livres", "cap": 600}, {"c": "driving", "l": "Permis"}]}


class AppTerminal:
    """The app, a keypad queue (one key per step) and a ledger that answers at once."""

    device_id = "CT0000000T"

    def __init__(self, answers):
        self.app, self.now, self.seq = CounterApp(CONFIG, 0), 0, 0
        self.keys, self.screen, self.answers, self.asked = [], [], answers, []
        self.inbox = []  # answers arrive on the next step, as from the network
        self._do(self.app.handle(("net", True)))

    def press(self, keys):
        self.keys.extend(keys)

    def scan(self, text):
        self._do(self.app.handle(("scan", text)))

    def step(self):
        self.now += 10
        while self.inbox:
            self._do(self.app.handle(("result", self.inbox.pop(0))))
        if self.keys:
            self._do(self.app.handle(("key", self.keys.pop(0))))
        self._do(self.app.handle(("tick", self.now)))

    def _do(self, actions):
        for action in actions:
            if action[0] == "show":
                self.screen = action[1]
            elif action[0] in ("debit", "void"):
                self.seq += 1
                self.asked.append(action)
                self._do(self.app.handle(("sent", self.seq)))
                self.inbox.append(dict(self.answers(action), seq=self.seq))


def ledger(action):
    if action[0] == "void":
        return {"t": "void_res", "st": "approved", "amt": 500, "auth": "VOID01"}
    if action[1] == UNKNOWN:
        return {"t": "debit_res", "st": "declined", "code": "unknown_code"}
    if action[2] > 600 and action[3] in ("books", "driving"):  # driving: a cap the config lacks
        return {"t": "debit_res", "st": "declined", "code": "over_purchase_cap"}
    return {"t": "debit_res", "st": "approved", "amt": action[2], "bal": 1000, "auth": "AUTH01"}


def sell(plan, void_after=0.0, told=None):
    scenario = from_dict({"fleet": {"think_s": [0, 0]}, "mix": {"valid": 1,
                                                               "void_after": void_after}})
    terminal = AppTerminal(ledger)
    seller = Seller(terminal, plan, scenario, random.Random(1), 0.0)
    if told is not None:
        seller.on_done = told.append
    for turn in range(2000):
        terminal.step()
        seller.poll(turn * 0.01)
        if seller.done:
            break
    assert seller.done, f"stuck on {terminal.screen}"
    return seller.sales, terminal.asked


def test_a_card_sale_goes_through_category_amount_and_confirm():
    sales, asked = sell([PlannedSale("valid", CARD, 450, "books")])
    assert asked == [("debit", CARD, 450, "books")]
    assert (sales[0].outcome, sales[0].auth) == ("approved", "AUTH01")
    assert sales[0].latency_ms is not None


def test_the_category_is_picked_by_its_label():
    _, asked = sell([PlannedSale("valid", CARD, 450, "driving")])
    assert asked[0][3] == "driving"


def test_declines_are_recorded_with_the_reason_shown():
    sales, _ = sell([PlannedSale("unknown_code", UNKNOWN, 300, "books"),
                     PlannedSale("over_cap", CARD, 900, "driving")])
    assert [(s.outcome, s.code) for s in sales] == [("declined", "unknown_code"),
                                                    ("declined", "over_purchase_cap")]


def test_an_amount_over_the_cap_the_terminal_knows_is_refused_before_sending():
    sales, asked = sell([PlannedSale("over_cap", CARD, 900, "books")])
    assert [(s.outcome, s.code) for s in sales] == [("not_sent", "over_purchase_cap")]
    assert asked == []


def test_a_voucher_has_no_category_question():
    _, asked = sell([PlannedSale("voucher", VOUCHER, 1000, None)])
    assert asked == [("debit", VOUCHER, 1000, None)]


def test_an_approved_sale_can_be_cancelled_from_the_menu():
    sales, asked = sell([PlannedSale("valid", CARD, 500, "books")], void_after=1.0)
    assert asked == [("debit", CARD, 500, "books"), ("void", 1)]
    assert sales[0].voided and sales[1].kind == "void" and sales[1].outcome == "approved"


def test_a_sale_is_told_as_soon_as_it_is_answered_and_before_its_cancel():
    told = []
    sales, _ = sell([PlannedSale("valid", CARD, 500, "books"),
                     PlannedSale("valid", CARD, 300, "books")], void_after=1.0, told=told)
    assert [(s.kind, s.amount_cents) for s in told] == [
        ("valid", 500), ("void", 500), ("valid", 300), ("void", 300)]
    assert told == sales


def test_screen_readers():
    assert auth_of(screens.approved(500, 1000, "AB12CD")) == "AB12CD"
    assert auth_of(screens.declined("voucher_used", False, False)) is None
    for code in ("voucher_used", "insufficient_balance", "not_in_agreement",
                 "ts_out_of_window", "coupon_out_of_order"):
        assert reason_of(screens.declined(code, False, False)) == code
    assert reason_of(["VENTE REFUSEE", "", "???"]) == "unknown"


def test_an_amount_the_terminal_refused_is_not_sent():
    # 400,00 EUR is over the terminal's maximum (300,00): its last digit is refused with
    # "Montant trop eleve", and the person does not validate 40,00 EUR.
    sales, asked = sell([PlannedSale("voucher", VOUCHER, 40000, None),
                         PlannedSale("voucher", VOUCHER, 1000, None)])
    assert (sales[0].outcome, sales[0].code) == ("not_sent", "amount_over_max")
    assert asked == [("debit", VOUCHER, 1000, None)]


class LinkDropsOnCancel(AppTerminal):
    """The link drops just as the cancel is validated, and is back a few steps later."""

    def __init__(self, answers):
        super().__init__(answers)
        self.back_in = None

    def press(self, keys):
        if keys == "A" and self.screen[:1] == ["ANNULER ?"] and self.back_in is None:
            self._do(self.app.handle(("net", False)))
            self.back_in = 50
        super().press(keys)

    def step(self):
        if self.back_in:
            self.back_in -= 1
            if not self.back_in:
                self._do(self.app.handle(("net", True)))
        super().step()


def test_a_cancel_refused_offline_as_it_is_validated_is_not_sent_and_selling_goes_on():
    # The terminal refuses the cancel ("HORS LIGNE ... Aucune operation n'est gardee") and
    # goes back to idle by itself: no answer is coming, the next sale is made.
    scenario = from_dict({"fleet": {"think_s": [0, 0]}, "mix": {"valid": 1,
                                                               "void_after": 1.0}})
    terminal = LinkDropsOnCancel(ledger)
    seller = Seller(terminal, [PlannedSale("valid", CARD, 500, "books"),
                               PlannedSale("valid", CARD, 300, "books")],
                    scenario, random.Random(1), 0.0)
    for turn in range(3000):
        terminal.step()
        seller.poll(turn * 0.01)
        if seller.done:
            break
    assert seller.done, f"stuck on {terminal.screen}"
    sales = seller.sales
    assert [(s.kind, s.outcome, s.code) for s in sales[:2]] == [
        ("valid", "approved", None), ("void", "not_sent", "offline")]
    assert not sales[0].voided and sales[2].outcome == "approved"
    assert terminal.asked[:2] == [("debit", CARD, 500, "books"), ("debit", CARD, 300, "books")]


class Shown:
    device_id = "CT0000000T"

    def __init__(self):
        self.screen, self.keys = [], []

    def press(self, keys):
        self.keys.append(keys)

    def scan(self, text):
        self.keys.append(text)


def test_a_validated_sale_still_waits_on_the_screens_of_an_operation_kept():
    # After a reboot ("EN ATTENTE ... attente de la reponse") or on the offline idle screen
    # with the operation pending, the answer is still to come: not a refusal.
    scenario = from_dict({"fleet": {"think_s": [0, 0]}})
    terminal = Shown()
    seller = Seller(terminal, [PlannedSale("valid", CARD, 500, "books")], scenario,
                    random.Random(1), 0.0)
    terminal.screen = screens.idle("Librairie", True, False, False)
    seller.poll(0.0)
    seller.current.confirmed = 0.0
    for turn, screen in enumerate((screens.recovering(),
                                   screens.idle("Librairie", False, True, False))):
        terminal.screen = screen
        seller.poll(30.0 * (turn + 1))
        assert seller.waiting and seller.current.outcome is None
    terminal.screen = screens.offline_refusal()
    seller.poll(100.0)
    assert (seller.sales[0].outcome, seller.sales[0].code) == ("not_sent", "offline")
