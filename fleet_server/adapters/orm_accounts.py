"""Tables of the web console: people's accounts, their sessions, one-time links, login attempts,
partners' organisation details and their CSV exports.

Secrets are never stored as they are: passwords as Argon2id hashes, session and link tokens as
their SHA-256 (a token has 256 random bits, so a fast unsalted hash is enough and lookups by
hash are safe; see adapters/api_tokens.py).
"""

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fleet_server.adapters.db import Base
from fleet_server.adapters.sql_types import UTCDateTime


class UserRow(Base):
    __tablename__ = "web_users"
    __table_args__ = (
        CheckConstraint("role IN ('operator', 'support', 'partner_admin', 'partner_user')",
                        name="known_role"),
        # Partner people belong to a partner; the program's people to none.
        CheckConstraint("(role IN ('operator', 'support') AND partner_id IS NULL) OR "
                        "(role IN ('partner_admin', 'partner_user') AND partner_id IS NOT NULL)",
                        name="partner_role_has_partner"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(200), unique=True)  # lower case
    name: Mapped[str | None] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(16))
    partner_id: Mapped[str | None] = mapped_column(ForeignKey("partners.partner_id"), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))  # None until activated
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Switched off by an admin; an invitation switched off this way cannot be activated.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SessionRow(Base):
    __tablename__ = "web_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id", ondelete="CASCADE"),
                                         index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LinkRow(Base):
    """An e-mailed one-time link: account activation or password reset."""

    __tablename__ = "web_links"
    __table_args__ = (CheckConstraint("purpose IN ('activate', 'reset')", name="known_purpose"),)
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id", ondelete="CASCADE"),
                                         index=True)
    purpose: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginAttemptRow(Base):
    """Failed logins, counted per e-mail address and per client address over a window."""

    __tablename__ = "web_login_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(200), index=True)
    client: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class PartnerProfileRow(Base):
    """"Ma structure": contractual, public and bank details of a partner."""

    __tablename__ = "partner_profiles"
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.partner_id"), primary_key=True)
    legal_name: Mapped[str | None] = mapped_column(String(120))
    siret: Mapped[str | None] = mapped_column(String(14))
    department: Mapped[str | None] = mapped_column(String(3))
    admin_email: Mapped[str | None] = mapped_column(String(200))
    hq_street: Mapped[str | None] = mapped_column(String(200))
    hq_extra: Mapped[str | None] = mapped_column(String(200))
    hq_postcode: Mapped[str | None] = mapped_column(String(10))
    hq_city: Mapped[str | None] = mapped_column(String(100))
    trade_name: Mapped[str | None] = mapped_column(String(120))
    contact_email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    website: Mapped[str | None] = mapped_column(String(200))
    site_street: Mapped[str | None] = mapped_column(String(200))
    site_extra: Mapped[str | None] = mapped_column(String(200))
    site_postcode: Mapped[str | None] = mapped_column(String(10))
    site_city: Mapped[str | None] = mapped_column(String(100))
    account_holder: Mapped[str | None] = mapped_column(String(120))
    bank_name: Mapped[str | None] = mapped_column(String(120))
    iban: Mapped[str | None] = mapped_column(String(34))
    bic: Mapped[str | None] = mapped_column(String(11))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ExportRow(Base):
    """A CSV file a partner generated ("Mes exports"), kept until they delete it."""

    __tablename__ = "partner_exports"
    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.partner_id"), index=True)
    filename: Mapped[str] = mapped_column(String(120))
    content: Mapped[str] = mapped_column(Text)
    rows: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("web_users.id",
                                                              ondelete="SET NULL"))


ACCOUNT_TABLES = [m.__table__ for m in (UserRow, SessionRow, LinkRow, LoginAttemptRow,
                                        PartnerProfileRow, ExportRow)]
