"""What a partner does in the console, scoped to that partner: today's figures, operations with
filters, internal references, cancelling, reimbursement batches, agreements, terminals and CSV
exports. Page handlers call these and only render; every call takes the partner id from the
logged-in account, never from the request.

Money moves only through the Ledger port (void); lists, references and batches use the
ledger's administration port, as the REST API does.
"""

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from fleet_server.domain.paris_days import PARIS, paris_day, paris_day_bounds
from fleet_server.ledger import exports, statuses
from fleet_server.ledger.admin_port import LedgerAdministration
from fleet_server.ledger.port import LedgerUnavailable
from fleet_server.ledger.views import (
    BatchError,
    BatchView,
    Holder,
    NotFound,
    OperationView,
    ProgramView,
)
from fleet_server.service_layer import operations
from fleet_server.service_layer.partner_data import ExportInfo, PartnerDataStore
from fleet_server.service_layer.refusals import Refused

EXPORT_MAX = 50_000  # operations in one CSV file
ONLINE_WITHIN = timedelta(minutes=5)  # a terminal heard from this recently counts as online


class ConsoleError(Refused):
    """A request the partner console refuses: a code and its details (the console's pages
    say it in French: entrypoints/web/refusals.py)."""


@dataclass(frozen=True)
class OperationFilter:
    status: str | None = None  # approved, voided
    start: date | None = None  # Paris days, inclusive
    end: date | None = None
    search: str | None = None
    reimbursement: bool | None = None


@dataclass(frozen=True)
class TerminalView:
    device_id: str
    model: str
    state: str
    online: bool
    last_seen_at: datetime | None
    firmware_version: str | None
    connection: str = "unknown"  # online, offline, unresponsive


@dataclass(frozen=True)
class Home:
    sales_count: int
    sales_total_cents: int
    voided_count: int
    terminals: list[TerminalView]
    latest: list[OperationView]


def cancel_blocker(op: OperationView) -> ConsoleError | None:
    """Why an operation cannot be cancelled now (shown beside the greyed button), or None:
    already_voided, or in_batch (its reimbursement is asked for: cancel the batch first)."""
    if op.status == statuses.OP_VOIDED:
        return ConsoleError("already_voided")
    if op.batch_id is not None:
        return ConsoleError("in_batch", batch_id=op.batch_id)
    return None


class PartnerConsole:
    def __init__(self, ledger: LedgerAdministration, uow_factory: Callable,
                 data: PartnerDataStore, clock: Callable[[], datetime],
                 keys=None, publish_config: Callable[[str], object] | None = None,
                 connection_of: Callable[[str, datetime], str] | None = None,
                 interventions=None):
        self.ledger, self.uow_factory = ledger, uow_factory
        self.data, self.clock = data, clock
        self.keys, self.publish_config = keys, publish_config
        self.connection_of = connection_of  # the live status (last will, heartbeats), if any
        self.interventions = interventions  # the support desk's, when the server runs one

    def ask_support(self, partner_id: str, actor: str, device_id: str, category: str,
                    title: str) -> tuple[int, bool]:
        """Ask the support desk for help about one of the partner's terminals: (number,
        joined), joined when the terminal's open intervention took the request."""
        if self.interventions is None:
            raise ConsoleError("assistance_unavailable")
        if device_id not in {t.device_id for t in self.terminals(partner_id)}:
            raise ConsoleError("terminal_unknown")
        try:
            item, joined = self.interventions.request_help(actor, device_id, category, title)
        except (ValueError, LookupError) as err:
            raise ConsoleError("help_request_incomplete") from err
        return item.intervention_id, joined

    def claim(self, partner_id: str, device_id: str, code: str) -> str:
        """Put a terminal allocated to the partner into service with its label's claim code
        (the device life cycle's claim: same checks and attempt limits as the API)."""
        from fleet_server.service_layer import device_lifecycle

        device_id = (device_id or "").strip().upper()[:24]
        # Asked before the claim's unit of work opens: on SQLite a second transaction inside
        # it (the ledger's agreements) would wait for the first one's write lock.
        rights = device_lifecycle.agreement_refusal(self.ledger)(partner_id)
        try:
            device = device_lifecycle.claim_device(
                self.uow_factory(), self.keys, partner_id, device_id, code or "", self.clock(),
                lambda _partner_id: rights)
        except device_lifecycle.ClaimRefused as err:
            raise ConsoleError("claim_refused", reason=err.code) from err
        if self.publish_config is not None:
            self.publish_config(device.device_id)  # the terminal gets its settings now
        return device.device_id

    # Home and terminals.

    def today_bounds(self) -> tuple[datetime, datetime]:
        return paris_day_bounds(paris_day(self.clock()))

    def home(self, partner_id: str) -> Home:
        start, end = self.today_bounds()
        today = self.ledger.list_operations(partner_id=partner_id, start_at=start, end_at=end,
                                            limit=10_000)
        approved = [o for o in today if o.status == statuses.OP_APPROVED]
        return Home(len(approved), sum(o.amount_cents for o in approved),
                    len(today) - len(approved), self.terminals(partner_id), today[:5])

    def terminals(self, partner_id: str) -> list[TerminalView]:
        now = self.clock()
        with self.uow_factory() as uow:  # read inside: leaving the unit of work expires them
            devices = [(d.device_id, d.model, d.state, d.last_seen_at, d.firmware_version)
                       for d in uow.devices.list(partner_id=partner_id, limit=1000)]
        views = []
        for device_id, model, state, seen, firmware in devices:
            connection = self.connection_of(device_id, now) if self.connection_of else "unknown"
            if connection == "unknown":  # no live status: judge by the last message
                recent = seen is not None and now - seen < ONLINE_WITHIN
                connection = "online" if recent else "offline"
            views.append(TerminalView(device_id, model, state, connection == "online", seen,
                                      firmware, connection))
        return views

    # Operations.

    def _query(self, partner_id: str, f: OperationFilter, today_only: bool) -> dict:
        start_at = paris_day_bounds(f.start)[0] if f.start else None
        end_at = paris_day_bounds(f.end)[1] if f.end else None
        if today_only:
            start_at = max(start_at or self.today_bounds()[0], self.today_bounds()[0])
        return dict(partner_id=partner_id, status=f.status, start_at=start_at, end_at=end_at,
                    search=(f.search or "").strip()[:40] or None,
                    reimbursement_requested=f.reimbursement)

    def operations(self, partner_id: str, f: OperationFilter, page: int = 1, per_page: int = 20,
                   today_only: bool = False) -> tuple[list[OperationView], bool]:
        """One page, newest first, and whether a next page exists."""
        page = max(1, min(page, 10_000))
        rows = self.ledger.list_operations(**self._query(partner_id, f, today_only),
                                           limit=per_page + 1, offset=(page - 1) * per_page)
        return rows[:per_page], len(rows) > per_page

    def holders(self, ops: list[OperationView]) -> dict[str, Holder]:
        """Each operation's programme and beneficiary card (operations page and export)."""
        return self.ledger.holders([op.id for op in ops])

    def operation(self, partner_id: str, operation_id: str) -> OperationView:
        op = self.ledger.get_operation(operation_id[:16], partner_id=partner_id)
        if op is None:
            raise ConsoleError("operation_unknown")
        return op

    def set_reference(self, partner_id: str, operation_id: str, reference: str) -> OperationView:
        text = "".join(c for c in (reference or "") if c.isprintable())[:100]
        try:
            return self.ledger.set_internal_reference(operation_id[:16], partner_id, text)
        except NotFound as err:
            raise ConsoleError("operation_unknown") from err

    def cancel(self, partner_id: str, operation_id: str) -> OperationView:
        op = self.operation(partner_id, operation_id)
        blocker = cancel_blocker(op)
        if blocker:
            raise blocker
        key = f"web-void:{op.id}:{secrets.token_hex(8)}"
        try:
            operations.cancel_operation(self.ledger, partner_id, op.id, key, self.clock())
        except LedgerUnavailable as err:
            raise ConsoleError("ledger_refused", reason="service_unavailable") from err
        except operations.CancelRefused as err:
            raise ConsoleError("ledger_refused", reason=err.code) from err
        return self.operation(partner_id, op.id)

    # Reimbursements.

    def batches(self, partner_id: str) -> list[BatchView]:
        return self.ledger.list_batches(partner_id)

    def cancel_batch(self, partner_id: str, batch_id: str) -> BatchView:
        try:
            return self.ledger.cancel_batch(batch_id[:16], partner_id)
        except NotFound as err:
            raise ConsoleError("batch_unknown") from err
        except BatchError as err:
            raise ConsoleError("batch_not_cancellable") from err

    # Agreements.

    def programs(self) -> list[ProgramView]:
        return self.ledger.programs()

    def agreements(self, partner_id: str) -> list[dict]:
        names = {p.id: p.name for p in self.programs()}
        return [dict(a, program_name=names.get(a["program_id"], a["program_id"]))
                for a in reversed(self.ledger.agreements(partner_id))]

    def partner(self, partner_id: str) -> dict | None:
        """The directory's record of the partner, as plain values."""
        with self.uow_factory() as uow:
            p = uow.partners.get(partner_id)
            return None if p is None else {
                "partner_id": p.partner_id, "name": p.name, "suspended": p.suspended,
                "can_take_payments": p.can_take_payments, "refusal": p.refusal()}

    def signed_categories(self, partner_id: str) -> list[str]:
        return sorted({a["category"] for a in self.ledger.agreements(partner_id)
                       if a["status"] == statuses.SIGNED})

    def categories(self) -> list:
        """The programme's category list (code and French label), for the request form."""
        return self.ledger.categories()

    def request_agreement(self, partner_id: str, program_id: str, category: str) -> str:
        program = next((p for p in self.programs() if p.id == program_id), None)
        category = (category or "").strip().lower()
        if program is None:
            raise ConsoleError("program_unknown")
        if category not in self.ledger.category_labels():
            raise ConsoleError("category_unknown")
        for a in self.ledger.agreements(partner_id):
            if (a["program_id"], a["category"], a["market_year"]) == (
                    program.id, category, program.market_year) and a["status"] != \
                    statuses.TERMINATED:
                raise ConsoleError("agreement_exists")
        return self.ledger.create_agreement(partner_id, program.id, category,
                                            program.market_year)

    # Exports.

    def export_operations(self, partner_id: str, user_id: int | None, f: OperationFilter,
                          operation_ids: list[str] | None = None) -> ExportInfo:
        """The filtered operations, or only the selected ones, as a CSV file in "Mes exports"."""
        query = self._query(partner_id, f, today_only=False)
        if operation_ids:
            wanted = {i[:16] for i in operation_ids[:1000]}
            ops = [op for op in (self.ledger.get_operation(i, partner_id=partner_id)
                                 for i in sorted(wanted)) if op is not None]
            ops.sort(key=lambda o: o.created_at, reverse=True)
        else:
            ops = self.ledger.list_operations(**query, limit=EXPORT_MAX)
        if not ops:
            raise ConsoleError("nothing_to_export")
        content = exports.operations_csv(ops, self.ledger.category_labels(),
                                         self.holders(ops))
        return self.data.add_export(partner_id, self._export_name(partner_id, "operations"),
                                    content, len(ops), user_id, self.clock())

    def export_batches(self, partner_id: str, user_id: int | None) -> ExportInfo:
        batches = self.batches(partner_id)
        if not batches:
            raise ConsoleError("no_batch_to_export")
        return self.data.add_export(partner_id, self._export_name(partner_id, "remboursements"),
                                    exports.batches_csv(batches), len(batches), user_id,
                                    self.clock())

    def _export_name(self, partner_id: str, what: str) -> str:
        taken = {e.filename for e in self.data.exports(partner_id)}
        return export_name(what, self.clock(), taken)


def export_name(what: str, now: datetime, taken: set[str]) -> str:
    """A file name no other export of the partner has: what, Paris date and time to the
    second, then -2, -3... for a second file within the same second (two files of one name
    in "Mes exports" cannot be told apart once downloaded)."""
    stamp = now.astimezone(PARIS).strftime("%Y%m%d-%H%M%S")
    name, n = f"{what}-{stamp}.csv", 1
    while name in taken:
        n += 1
        name = f"{what}-{stamp}-{n}.csv"
    return name

