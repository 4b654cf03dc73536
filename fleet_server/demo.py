"""Demo data (`fleet seed-demo`) and the one-command demo (`fleet demo`).

The data follows the programs of the seeds: a youth pass with pots per category (books capped
per purchase, a "special" culture pot without cap), exchange vouchers of fixed value, driving
licence aid as ordered coupons (300, then 500, then 500 EUR), partners able to take payments
and one "deals only" partner. Every code is also written as a QR code image to scan.
"""

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import qrcode

from fleet_server.demo_terminal_codes import seed_terminal_codes
from fleet_server.domain.partners import Partner
from fleet_server.ledger import statuses
from fleet_server.ledger.views import PotView
from fleet_server.service_layer import registry
from protocol import text, tokens

PROGRAM_ID = "PG-DEMO"
PARTNERS = [
    # id, name, can take payments, categories, phone
    ("PA-LIBRAIRIE", "Librairie des Écoles", True, ("books", "culture"), "01 23 45 67 89"),
    ("PA-THEATRE", "Théâtre du Rond-Point", True, ("culture",), "01 98 76 54 32"),
    ("PA-AUTOECOLE", "Auto-école Horizon", True, ("driving",), "03 87 15 09 16"),
    ("PA-CAFE", "Café Bons Plans", False, ("culture",), "04 11 22 33 44"),
]
TERMINALS = [("PA-LIBRAIRIE", "esp32-gm65"), ("PA-THEATRE", "esp32-gm65"),
             ("PA-AUTOECOLE", "esp32-gm805")]


def _card(n: int) -> str:
    return tokens.make_card(f"9731{n:07d}")


def _voucher(prefix: str, n: int) -> str:
    return tokens.make_voucher(f"{prefix}{n:06d}")


def seed_demo(fleet, out_dir: str | Path) -> list[str]:
    """Create the demo data once; a second run only rewrites the QR images and the listing."""
    ledger, now = fleet.ledger, datetime.now(UTC)
    if not hasattr(ledger, "create_program"):
        raise ValueError("seed-demo needs the built-in reference ledger (no --ledger-url)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    year = now.year
    codes: list[dict] = []
    fresh = not _program_exists(fleet)
    if fresh:
        ledger.create_program("Pass Région Jeunes", year, max_amount_cents=50000,
                              program_id=PROGRAM_ID)
        for pid, name, can_pay, categories, phone in PARTNERS:
            ledger.create_partner(name, can_take_payments=can_pay, partner_id=pid)
            registry.add_partner(fleet.uow(), Partner(pid, name, can_take_payments=can_pay,
                                                      phone=phone, created_at=now))
            for category in categories:
                agreement = ledger.create_agreement(pid, PROGRAM_ID, category, year)
                ledger.set_agreement_status(agreement, statuses.ACCEPTED)
                ledger.set_agreement_status(agreement, statuses.SIGNED)
    for n in range(1, 6):
        card = _card(n)
        if fresh:
            ledger.create_beneficiary(PROGRAM_ID, card, [
                PotView("books", 6000, 600), PotView("culture", 10000, None),
                PotView("sport", 5000, 2500)], name=f"Bénéficiaire {n}")
        codes.append(_code(card, "card", "carte : livres 60 € (6 € max par achat), "
                                         "culture 100 €, sport 50 € (25 € max)"))
    for n in range(1, 6):
        number = _voucher("BK", n)
        if fresh:
            ledger.create_voucher(PROGRAM_ID, number, "books", 1000, year)
        codes.append(_code(number, "voucher", "coupon livres 10 €", "books", 1000))
    for n in range(1, 4):
        number = _voucher("CV", n)
        if fresh:
            ledger.create_voucher(PROGRAM_ID, number, "culture", 2000, year)
        codes.append(_code(number, "voucher", "coupon culture 20 €", "culture", 2000))
    coupons = [(_voucher("DR", n), value) for n, value in ((1, 30000), (2, 50000), (3, 50000))]
    if fresh:
        ledger.create_coupon_series(PROGRAM_ID, "driving", year, coupons, card_code=_card(1))
    for rank, (number, value) in enumerate(coupons, 1):
        codes.append(_code(number, "coupon", f"aide au permis, coupon {rank}/3 "
                                             f"({text.format_cents(value)})", "driving", value))
    terminals = _demo_terminals(fleet, out, fresh, now)
    seed_terminal_codes(ledger, PROGRAM_ID, year, out)  # theirs, apart from the listed ones
    lines = [f"{'created' if fresh else 'kept'} program {PROGRAM_ID}, {len(PARTNERS)} partners, "
             f"{len(codes)} codes, {len(terminals)} terminals"]
    lines.append(f"QR codes and listing in {out}/ (codes.md)")
    _write_codes(out, codes, terminals)
    return lines


def _code(code, kind, description, category=None, value=None) -> dict:
    return {"code": code, "kind": kind, "description": description, "category": category,
            "value_cents": value}


def _program_exists(fleet) -> bool:
    with fleet.uow() as uow:
        return uow.partners.get("PA-LIBRAIRIE") is not None


def _demo_terminals(fleet, out: Path, fresh: bool, now) -> list[dict]:
    keys_file = out / "terminals.json"
    if not fresh and keys_file.exists():
        return json.loads(keys_file.read_text())
    terminals = []
    for partner_id, model in TERMINALS:
        secrets = registry.register_device(fleet.uow(), fleet.keys, model, now)
        registry.assign_device(fleet.uow(), secrets.device_id, partner_id)
        registry.change_state(fleet.uow(), secrets.device_id, "activate")
        terminals.append(dict(secrets.__dict__, partner_id=partner_id, model=model))
    fd = os.open(keys_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:  # terminal keys: readable by the owner only
        json.dump(terminals, f, indent=1)
    return terminals


def _write_codes(out: Path, codes, terminals) -> None:
    lines = ["# Demo codes", "", "Scan the images or type the codes.", "",
             "| code | kind | what | image |", "| --- | --- | --- | --- |"]
    for c in codes:
        code = c["code"]
        qrcode.make(code).save(out / f"{code}.png")
        shown = tokens.format_card(code) if c["kind"] == "card" else code
        lines.append(f"| `{shown}` | {c['kind']} | {c['description']} | ![{code}]({code}.png) |")
    lines += ["", "## Terminals", ""]
    lines += [f"- `{t['device_id']}` ({t['model']}) at {t['partner_id']}" for t in terminals]
    (out / "codes.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "codes.json").write_text(json.dumps(codes, indent=1, ensure_ascii=False) + "\n",
                                    encoding="utf-8")
