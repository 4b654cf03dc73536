"""What the program operator does in the console: partners (both directories: the fleet's and
the ledger's, under one id), agreements, suspension, cards and their pots, vouchers
and coupon series, terminal allocation. Page handlers call these and only render."""

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from fleet_server.domain.devices import DeviceStateError, LifecycleRefused
from fleet_server.ledger import statuses
from fleet_server.ledger.admin_port import LedgerAdministration
from fleet_server.ledger.views import (
    CATEGORY_LABEL_MAX,
    CardView,
    CategoryInvalid,
    CategoryView,
    NotFound,
    PotView,
    ProgramView,
    VoucherView,
)
from fleet_server.service_layer import partners as partner_use_cases
from fleet_server.service_layer import registry
from fleet_server.service_layer.refusals import Refused
from protocol import tokens
from protocol.errors import ProtocolError

MAX_VOUCHERS = 500  # issued at once
MAX_SERIES = 20  # coupons in one series
_CATEGORY = re.compile(r"^[a-z0-9_-]{1,32}$")


class OperatorError(Refused):
    """A request the operator console refuses: a code and its details (the console's pages
    say it in French: entrypoints/web/refusals.py)."""


@dataclass(frozen=True)
class PartnerRow:
    partner_id: str
    name: str
    can_take_payments: bool
    suspended: bool
    phone: str | None
    email: str | None
    address: str | None


def category(raw: str) -> str:
    value = (raw or "").strip().lower()
    if not _CATEGORY.match(value):
        raise OperatorError("category_invalid")
    return value


def cents(raw: str, what: str = "amount") -> int:
    """Euros as typed -> cents; `what`: the field (amount, balance, cap, value, max_amount)."""
    from fleet_server.service_layer.online_till import parse_amount

    try:
        return parse_amount(raw)
    except ValueError as err:
        raise OperatorError("amount_invalid", field=what) from err


class OperatorConsole:
    def __init__(self, ledger: LedgerAdministration, uow_factory: Callable,
                 clock: Callable[[], datetime], broker=None,
                 publish: Callable[[list], object] | None = None):
        self.ledger, self.uow_factory = ledger, uow_factory
        self.clock, self.broker, self.publish = clock, broker, publish

    # Partners and agreements.

    def partners(self) -> list[PartnerRow]:
        with self.uow_factory() as uow:
            return [PartnerRow(p.partner_id, p.name, p.can_take_payments, p.suspended, p.phone,
                               p.email, p.address) for p in uow.partners.list()]

    def partner(self, partner_id: str) -> PartnerRow:
        found = next((p for p in self.partners() if p.partner_id == partner_id), None)
        if found is None:
            raise OperatorError("partner_unknown")
        return found

    def create_partner(self, new: partner_use_cases.NewPartner) -> str:
        """partners.PartnerRefused (with its code) when the request is refused."""
        return partner_use_cases.create_partner(self.uow_factory, self.ledger, new,
                                                self.clock()).partner_id

    def set_suspended(self, partner_id: str, suspended: bool) -> None:
        """A suspended partner's terminals and till refuse every sale (partner_cannot_pay)."""
        with self.uow_factory() as uow:
            partner = uow.partners.get(partner_id)
            if partner is None:
                raise OperatorError("partner_unknown")
            partner.suspended = suspended
            uow.commit()

    # The category list.

    def categories(self) -> list[CategoryView]:
        return self.ledger.categories()

    def save_category(self, code: str, label: str) -> CategoryView:
        try:
            return self.ledger.save_category(code, label)
        except CategoryInvalid as err:
            raise OperatorError("category_definition_invalid",
                                label_max=CATEGORY_LABEL_MAX) from err

    def _category(self, raw: str) -> str:
        value = category(raw)
        if value not in self.ledger.category_labels():
            raise OperatorError("category_not_listed", category=value)
        return value

    def agreements(self, partner_id: str) -> list[dict]:
        names = {p.id: p.name for p in self.ledger.programs()}
        return [dict(a, program_name=names.get(a["program_id"], a["program_id"]))
                for a in reversed(self.ledger.agreements(partner_id))]

    def create_agreement(self, partner_id: str, program_id: str, raw_category: str,
                         status: str) -> str:
        program = next((p for p in self.ledger.programs() if p.id == program_id),
                       None)
        if program is None:
            raise OperatorError("program_unknown")
        if status not in (statuses.REQUESTED, statuses.ACCEPTED, statuses.SIGNED):
            raise OperatorError("status_unknown")
        try:
            return self.ledger.create_agreement(partner_id, program.id,
                                                self._category(raw_category),
                                                program.market_year, status)
        except IntegrityError as err:
            raise OperatorError("partner_unknown_to_ledger") from err

    def set_agreement_status(self, agreement_id: str, status: str) -> None:
        try:
            self.ledger.set_agreement_status(agreement_id[:16], status)
        except NotFound as err:
            raise OperatorError("agreement_unknown") from err
        except ValueError as err:
            raise OperatorError("agreement_move_refused") from err

    # Programs, cards and pots.

    def programs(self) -> list[ProgramView]:
        return self.ledger.programs()

    def create_program(self, name: str, market_year: str, max_amount: str) -> str:
        name = (name or "").strip()
        if not 0 < len(name) <= 120:
            raise OperatorError("program_name_invalid")
        if not (market_year.isdigit() and 2000 <= int(market_year) <= 2100):
            raise OperatorError("market_year_invalid")
        limit = cents(max_amount, "max_amount") if max_amount.strip() else None
        return self.ledger.create_program(name, int(market_year), limit)

    def cards(self, search: str | None, page: int) -> list[CardView]:
        return self.ledger.cards((search or "").strip()[:40] or None, 50, (page - 1) * 50)

    def create_card(self, program_id: str, name: str, pots: list[tuple[str, str, str]]) -> str:
        """pots: (category, balance in euros, per-purchase cap in euros or "")."""
        made = []
        for raw_category, balance, cap in pots:
            if not raw_category.strip():
                continue
            made.append(PotView(self._category(raw_category), cents(balance, "balance")
                                if balance.strip() not in ("", "0") else 0,
                                cents(cap, "cap") if cap.strip() else None))
        if not made:
            raise OperatorError("pots_missing")
        if len({p.category for p in made}) != len(made):
            raise OperatorError("pots_repeated")
        card = tokens.make_card("".join(str(b % 10) for b in os.urandom(11)))
        try:
            self.ledger.create_beneficiary(program_id, card, made,
                                           name=(name or "").strip()[:120] or None)
        except (NotFound, IntegrityError) as err:
            raise OperatorError("program_unknown") from err
        return card

    def load_pot(self, card: str, raw_category: str, amount: str) -> int:
        try:
            _kind, code = tokens.parse_token(card)
            return self.ledger.load_pot(code, self._category(raw_category), cents(amount))
        except ProtocolError as err:
            raise OperatorError("card_unreadable") from err
        except NotFound as err:
            raise OperatorError("card_or_pot_unknown") from err
        except ValueError as err:
            raise OperatorError("load_refused", reason=str(err)) from err

    # Vouchers and coupon series.

    def _program(self, program_id: str) -> ProgramView:
        program = next((p for p in self.programs() if p.id == program_id), None)
        if program is None:
            raise OperatorError("program_unknown")
        return program

    @staticmethod
    def _number() -> str:
        return tokens.make_voucher(tokens.random_payload32(8, os.urandom))

    def issue_vouchers(self, program_id: str, raw_category: str, value: str,
                       count: str) -> list[str]:
        program = self._program(program_id)
        if not (count.isdigit() and 1 <= int(count) <= MAX_VOUCHERS):
            raise OperatorError("voucher_count_invalid", most=MAX_VOUCHERS)
        value_cents, cat = cents(value, "value"), self._category(raw_category)
        return [self.ledger.create_voucher(program.id, self._number(), cat, value_cents,
                                           program.market_year) for _ in range(int(count))]

    def create_series(self, program_id: str, raw_category: str, values: str,
                      card: str | None = None) -> tuple[int, list[str]]:
        """values: the coupons' values in euros, in order, separated by ";" or spaces."""
        program = self._program(program_id)
        amounts = [cents(v, "value") for v in re.split(r"[;\s]+", values or "") if v]
        if not 1 <= len(amounts) <= MAX_SERIES:
            raise OperatorError("series_size_invalid", most=MAX_SERIES)
        numbers = [self._number() for _ in amounts]
        try:
            owner = tokens.parse_token(card)[1] if card and card.strip() else None
            series = self.ledger.create_coupon_series(program.id, self._category(raw_category),
                                                      program.market_year,
                                                      list(zip(numbers, amounts, strict=True)),
                                                      card_code=owner)
        except NotFound as err:
            raise OperatorError("card_unknown") from err
        except ProtocolError as err:
            raise OperatorError("card_unreadable") from err
        return series, numbers

    def vouchers(self, search: str | None, page: int, series_id: int | None = None
                 ) -> list[VoucherView]:
        return self.ledger.vouchers((search or "").strip()[:12] or None, series_id, 100,
                                   (page - 1) * 100)

    # Terminals.

    def terminals(self, partner_id: str | None = None) -> list[dict]:
        with self.uow_factory() as uow:
            return [{"device_id": d.device_id, "model": d.model, "state": d.state,
                     "partner_id": d.partner_id, "last_seen_at": d.last_seen_at,
                     "firmware_version": d.firmware_version}
                    for d in uow.devices.list(partner_id=partner_id, limit=5000)]

    def allocate(self, device_id: str, partner_id: str) -> None:
        """Allocate a provisioned terminal (the partner then claims it with its label's code)."""
        from fleet_server.service_layer import device_lifecycle

        try:
            device_lifecycle.allocate_devices(self.uow_factory(), partner_id[:40],
                                              [device_id[:24]], self.clock())
        except LifecycleRefused as err:
            raise OperatorError("allocation_refused", reason=err.message) from err

    def change_state(self, device_id: str, action: str) -> None:
        from fleet_server.service_layer import device_lifecycle

        try:
            _, clears = device_lifecycle.change_state(self.uow_factory(), device_id[:24], action,
                                                      self.clock(), self.broker)
        except (registry.NotFound, LookupError) as err:
            raise OperatorError("terminal_unknown") from err
        except LifecycleRefused as err:
            raise OperatorError("state_change_refused", reason=err.message) from err
        except (DeviceStateError, ValueError) as err:
            raise OperatorError("state_change_refused", reason=str(err)) from err
        if clears and self.publish is not None:
            self.publish(clears)
