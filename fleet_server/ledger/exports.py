"""The CSV exports of a ledger's operations and settlement batches (the views of
admin_port.LedgerAdministration), as French partners' spreadsheets expect them: ";" between
fields, decimal comma ("12,34"), dates dd/mm/yyyy in Paris time, UTF-8 with a byte order mark
(without it Excel reads the accents as Latin-1), one header row."""

import csv
import io
from collections.abc import Iterable
from datetime import datetime

from fleet_server.domain.paris_days import PARIS
from fleet_server.ledger import statuses
from fleet_server.ledger.views import BatchView, OperationView

CSV_BOM = "\ufeff"
_KIND_FR = {statuses.KIND_CARD: "Carte", statuses.KIND_VOUCHER: "Bon d'échange",
            statuses.KIND_COUPON: "Coupon"}
_OP_STATUS_FR = {statuses.OP_APPROVED: "Validée", statuses.OP_VOIDED: "Annulée"}
_BATCH_STATUS_FR = {statuses.BATCH_REQUESTED: "Remboursement demandé",
                    statuses.BATCH_PAID: "Payé", statuses.BATCH_CANCELLED: "Annulé"}


def format_cents(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100},{abs(cents) % 100:02d}"


def _cell(value) -> str:
    text = "" if value is None else str(value)
    # A cell starting with = + - @ is a formula to a spreadsheet: a partner's internal
    # reference must not run as one on someone else's machine.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _paris(moment: datetime | None, fmt: str) -> str:
    return moment.astimezone(PARIS).strftime(fmt) if moment else ""


def _write(header: list[str], rows: Iterable[list]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return CSV_BOM + out.getvalue()


def operations_csv(operations: Iterable[OperationView],
                   category_labels: dict[str, str] | None = None, holders=None) -> str:
    """`category_labels` (code -> French label) names each category as partners know it;
    `holders` (operation id -> views.Holder) gives the beneficiary's programme and card,
    in the last two columns so that the earlier ones keep their places."""
    labels, holders = category_labels or {}, holders or {}
    header = ["N° opération", "Date", "Heure", "Type", "Code", "Catégorie", "Millésime",
              "Montant (EUR)", "Statut", "Réf. interne", "Terminal", "N° lot",
              "Remboursement demandé le", "Programme", "Carte bénéficiaire"]
    return _write(header, ([
        op.id, _paris(op.created_at, "%d/%m/%Y"), _paris(op.created_at, "%H:%M:%S"),
        _KIND_FR.get(op.kind, op.kind), op.token, _cell(labels.get(op.category, op.category)),
        op.market_year,
        format_cents(op.amount_cents), _OP_STATUS_FR.get(op.status, op.status),
        _cell(op.internal_reference), _cell(op.device_id) if op.device_id else TILL,
        op.batch_id or "", _paris(op.reimbursement_requested_at, "%d/%m/%Y"),
        _cell(getattr(holders.get(op.id), "program_name", "")),
        getattr(holders.get(op.id), "card_code", None) or ""] for op in operations))


TILL = "Caisse en ligne"  # an operation without a terminal was typed in the online till


def batches_csv(batches: Iterable[BatchView]) -> str:
    header = ["N° lot", "Journée", "Partenaire", "Nombre d'opérations", "Montant (EUR)",
              "Statut", "Date du statut"]
    return _write(header, ([
        b.id, b.day.strftime("%d/%m/%Y"), _cell(b.partner_id), b.count,
        format_cents(b.total_cents), _BATCH_STATUS_FR.get(b.status, b.status),
        _paris(b.status_at, "%d/%m/%Y %H:%M")] for b in batches))
