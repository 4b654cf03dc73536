"""The console's navigation per role and the small formatting helpers templates use.

Other page modules add their own entries with `add_nav` when they are imported (the support
desk adds its pages for the support role, for instance), so this file needs no edit for them.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from fleet_server.domain.roles import (
    OPERATOR,
    PARTNER_ADMIN,
    PARTNER_USER,
    SUPPORT,
)

PARIS = ZoneInfo("Europe/Paris")

_NAV: dict[str, list[tuple[str, str]]] = {
    PARTNER_ADMIN: [
        ("Accueil", "/partner"),
        ("Caisse en ligne", "/till"),
        ("Opérations", "/partner/operations"),
        ("Remboursements", "/partner/reimbursements"),
        ("Conventions", "/partner/agreements"),
        ("Ma structure", "/partner/organisation"),
        ("Mes terminaux", "/partner/terminals"),
        ("Mes exports", "/partner/exports"),
    ],
    PARTNER_USER: [
        ("Caisse en ligne", "/till"),
        ("Opérations du jour", "/till/operations"),
    ],
    OPERATOR: [
        ("Partenaires", "/operator/partners"),
        ("Bénéficiaires", "/operator/beneficiaries"),
        ("Bons et coupons", "/operator/vouchers"),
        ("Terminaux", "/operator/terminals"),
        ("Comptes", "/operator/users"),
    ],
    SUPPORT: [],
}

HOME = {PARTNER_ADMIN: "/partner", PARTNER_USER: "/till", OPERATOR: "/operator/partners",
        SUPPORT: "/support"}


def add_nav(role: str, label: str, href: str, first: bool = False) -> None:
    """Add an entry to a role's menu (once; importing a module twice adds nothing)."""
    entries = _NAV.setdefault(role, [])
    if (label, href) not in entries:
        entries.insert(0, (label, href)) if first else entries.append((label, href))


def set_home(role: str, href: str) -> None:
    HOME[role] = href


def home_of(role: str) -> str:
    return HOME.get(role, "/account")


def navigation(user, path: str) -> list[dict]:
    """The user's menu, the entry of the current page marked (longest matching prefix)."""
    entries = _NAV.get(user.role, [])
    best = max((href for _, href in entries if path == href or path.startswith(href + "/")),
               key=len, default=None)
    return [{"label": label, "href": href, "current": href == best} for label, href in entries]


def format_cents(cents: int | None) -> str:
    """12345 -> "123,45 €" (French: decimal comma, thin space before the sign)."""
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    euros, rest = divmod(abs(int(cents)), 100)
    grouped = f"{euros:,}".replace(",", "\u202f")
    return f"{sign}{grouped},{rest:02d}\u00a0€"


def format_paris(moment: datetime | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
    return moment.astimezone(PARIS).strftime(fmt) if moment else ""
