"""The managed list of categories: a code (`books`) that pots, vouchers, coupon series and
agreements carry, and the French label (`Livres`) that every page, export, printed sheet and
terminal shows. Only listed codes can be used: a typo in a seed or a form would otherwise make
a pot that no agreement matches, and a label nobody can read."""

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet_server.ledger.views import (
    CATEGORY_LABEL_MAX,
    CategoryInvalid,
    CategoryView,
    UnknownCategory,
)
from fleet_server.reference_ledger.tables import CategoryRow

CODE = re.compile(r"^[a-z0-9_-]{1,32}$")
LABEL_MAX = CATEGORY_LABEL_MAX
# What a new database starts with (the migration writes the same list).
DEFAULTS = (("books", "Livres"), ("culture", "Culture"), ("sport", "Sport"),
            ("driving", "Permis de conduire"), ("music", "Musique"), ("cinema", "Cinéma"),
            ("theatre", "Théâtre"))

# Its errors (UnknownCategory, CategoryInvalid) are the administration port's: ledger/views.py.


def listed(session: Session) -> list[CategoryView]:
    rows = session.scalars(select(CategoryRow).order_by(CategoryRow.label))
    return [CategoryView(r.code, r.label) for r in rows]


def require(session: Session, *codes: str) -> None:
    """Refuse any code that is not listed."""
    for code in set(codes):
        if not isinstance(code, str) or session.get(CategoryRow, code) is None:
            raise UnknownCategory(str(code)[:40])


def save(session: Session, code: str, label: str, now: datetime) -> CategoryView:
    """List a new category, or give a listed one a new label (its code never changes: the
    ledger's rows and the terminals' configurations refer to it)."""
    code = (code or "").strip().lower()
    label = " ".join((label or "").split())
    if not CODE.match(code):
        raise CategoryInvalid("a category code is 1 to 32 lower-case letters, digits, - or _")
    if not label or len(label) > LABEL_MAX:
        raise CategoryInvalid(f"a category label is 1 to {LABEL_MAX} characters")
    row = session.get(CategoryRow, code)
    if row is None:
        session.add(CategoryRow(code=code, label=label, created_at=now))
    else:
        row.label = label
    return CategoryView(code, label)


def add_defaults(session: Session, now: datetime) -> None:
    """List the usual categories that are missing (a ledger whose tables were made without
    the migrations, which list them)."""
    for code, label in DEFAULTS:
        if session.get(CategoryRow, code) is None:
            session.add(CategoryRow(code=code, label=label, created_at=now))


def label_of(labels: dict[str, str], code: str | None) -> str:
    """The French label of a code, the code itself when it is not listed (never hidden)."""
    if code is None:
        return ""
    return labels.get(code, code)
