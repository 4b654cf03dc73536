"""Bearer tokens of the REST API: who is calling, with which role, for which partner.

Only the SHA-256 of a token is stored: a copy of the database (a backup, a support dump) gives
no usable token. A token has 256 random bits, so an unsalted fast hash is enough (there is
nothing to brute-force), and lookup by hash is safe: timing can reveal at most something about
a hash, never about a live token.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from fleet_server.adapters.db import Base
from fleet_server.adapters.sql_types import UTCDateTime
from fleet_server.domain.roles import PARTNER_ROLES, ROLES

# last_used_at is written at most this often per token, so reading the API does not turn every
# GET into a database write (on SQLite every write takes the one write lock).
LAST_USED_PRECISION = timedelta(minutes=1)


class TokenRow(Base):
    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint("role IN ('operator', 'support', 'partner_admin', 'partner_user')",
                        name="known_role"),
        # The database refuses a partner role with no partner, whatever the code does.
        CheckConstraint("role IN ('operator', 'support') OR partner_id IS NOT NULL",
                        name="partner_role_has_partner"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # hex SHA-256
    role: Mapped[str] = mapped_column(String(16))
    partner_id: Mapped[str | None] = mapped_column(ForeignKey("partners.partner_id"),
                                                   index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class Principal:
    role: str
    partner_id: str | None
    name: str

    @property
    def is_partner(self) -> bool:
        return self.role in PARTNER_ROLES


@dataclass(frozen=True)
class TokenInfo:
    name: str
    role: str
    partner_id: str | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenError(ValueError):
    """A token cannot be issued or revoked as asked (unknown partner, name taken...)."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def issue_token(session_factory: sessionmaker, role: str, partner_id: str | None,
                name: str, now: datetime | None = None) -> str:
    """A new token, returned in clear this once only."""
    if role not in ROLES:
        raise TokenError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    if role in PARTNER_ROLES and not partner_id:
        raise TokenError(f"a {role} token needs a partner")
    if role not in PARTNER_ROLES and partner_id:
        raise TokenError(f"a {role} token is not bound to a partner")
    name = (name or "").strip()
    if not 0 < len(name) <= 80:
        raise TokenError("a token name is 1 to 80 characters")
    token = secrets.token_urlsafe(32)
    while token.startswith("-"):  # `--token -x...` on a command line reads as an option
        token = secrets.token_urlsafe(32)
    try:
        with session_factory() as s, s.begin():
            s.add(TokenRow(name=name, token_hash=hash_token(token), role=role,
                           partner_id=partner_id, created_at=now or _now()))
    except IntegrityError as err:
        # A name in use, or a partner not in the directory (foreign key).
        raise TokenError(f"token name {name!r} is taken or partner {partner_id!r} "
                         "is unknown") from err
    return token


def authenticate(session_factory: sessionmaker, token: str | None,
                 now: datetime | None = None) -> Principal | None:
    """The principal of a live token, or None for a missing, unknown or revoked one."""
    if not token or len(token) > 200:
        return None
    digest = hash_token(token)
    now = now or _now()
    with session_factory() as s:
        row = s.scalar(select(TokenRow).where(TokenRow.token_hash == digest))
        # compare_digest is belt and braces: the lookup already matched on the full hash.
        if row is None or row.revoked_at is not None or not secrets.compare_digest(
                row.token_hash, digest):
            return None
        principal = Principal(row.role, row.partner_id, row.name)
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_PRECISION:
            s.execute(update(TokenRow).where(TokenRow.id == row.id).values(last_used_at=now))
            s.commit()
    return principal


def revoke_token(session_factory: sessionmaker, name: str, now: datetime | None = None) -> bool:
    """Revoke the live token called `name`; False when there is none."""
    with session_factory() as s, s.begin():
        done = s.execute(update(TokenRow).where(TokenRow.name == name,
                                                TokenRow.revoked_at.is_(None))
                         .values(revoked_at=now or _now()))
        return done.rowcount == 1


def list_tokens(session_factory: sessionmaker) -> list[TokenInfo]:
    with session_factory() as s:
        rows = s.scalars(select(TokenRow).order_by(TokenRow.name))
        return [TokenInfo(r.name, r.role, r.partner_id, r.created_at, r.revoked_at,
                          r.last_used_at) for r in rows]
