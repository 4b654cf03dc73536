"""web console: accounts, sessions, one-time links, login failures, partner profiles, exports

Revision ID: 9e2a6b4c8d13
Revises: 2977b4271fdd
Create Date: 2026-11-26 00:50:00

Tables of fleet_server/adapters/orm_accounts.py. New tables only, so SQLite and PostgreSQL take
the same statements.
"""

import sqlalchemy as sa
from alembic import op

import fleet_server.adapters.sql_types

revision = "9e2a6b4c8d13"
down_revision = "2977b4271fdd"
branch_labels = None
depends_on = None

_UTC = fleet_server.adapters.sql_types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table("web_users",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("email", sa.String(length=200), nullable=False),
    sa.Column("name", sa.String(length=120), nullable=True),
    sa.Column("role", sa.String(length=16), nullable=False),
    sa.Column("partner_id", sa.String(length=40), nullable=True),
    sa.Column("password_hash", sa.String(length=200), nullable=True),
    sa.Column("active", sa.Boolean(), nullable=False),
    sa.Column("created_at", _UTC, nullable=False),
    sa.Column("activated_at", _UTC, nullable=True),
    sa.Column("last_login_at", _UTC, nullable=True),
    sa.CheckConstraint("(role IN ('operator', 'support') AND partner_id IS NULL) OR (role IN ('partner_admin', 'partner_user') AND partner_id IS NOT NULL)", name=op.f("ck_web_users_partner_role_has_partner")),
    sa.CheckConstraint("role IN ('operator', 'support', 'partner_admin', 'partner_user')", name=op.f("ck_web_users_known_role")),
    sa.ForeignKeyConstraint(["partner_id"], ["partners.partner_id"], name=op.f("fk_web_users_partner_id_partners")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_web_users")),
    sa.UniqueConstraint("email", name=op.f("uq_web_users_email"))
    )
    op.create_index(op.f("ix_web_users_partner_id"), "web_users", ["partner_id"], unique=False)

    op.create_table("web_sessions",
    sa.Column("token_hash", sa.String(length=64), nullable=False),
    sa.Column("user_id", sa.Integer(), nullable=False),
    sa.Column("csrf_token", sa.String(length=64), nullable=False),
    sa.Column("created_at", _UTC, nullable=False),
    sa.Column("expires_at", _UTC, nullable=False),
    sa.Column("last_seen_at", _UTC, nullable=False),
    sa.ForeignKeyConstraint(["user_id"], ["web_users.id"], name=op.f("fk_web_sessions_user_id_web_users"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_web_sessions"))
    )
    op.create_index(op.f("ix_web_sessions_expires_at"), "web_sessions", ["expires_at"], unique=False)
    op.create_index(op.f("ix_web_sessions_user_id"), "web_sessions", ["user_id"], unique=False)

    op.create_table("web_links",
    sa.Column("token_hash", sa.String(length=64), nullable=False),
    sa.Column("user_id", sa.Integer(), nullable=False),
    sa.Column("purpose", sa.String(length=10), nullable=False),
    sa.Column("created_at", _UTC, nullable=False),
    sa.Column("expires_at", _UTC, nullable=False),
    sa.Column("used_at", _UTC, nullable=True),
    sa.CheckConstraint("purpose IN ('activate', 'reset')", name=op.f("ck_web_links_known_purpose")),
    sa.ForeignKeyConstraint(["user_id"], ["web_users.id"], name=op.f("fk_web_links_user_id_web_users"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_web_links"))
    )
    op.create_index(op.f("ix_web_links_user_id"), "web_links", ["user_id"], unique=False)

    op.create_table("web_login_failures",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("email", sa.String(length=200), nullable=False),
    sa.Column("client", sa.String(length=64), nullable=False),
    sa.Column("at", _UTC, nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_web_login_failures"))
    )
    op.create_index(op.f("ix_web_login_failures_at"), "web_login_failures", ["at"], unique=False)
    op.create_index(op.f("ix_web_login_failures_client"), "web_login_failures", ["client"], unique=False)
    op.create_index(op.f("ix_web_login_failures_email"), "web_login_failures", ["email"], unique=False)

    op.create_table("partner_profiles",
    sa.Column("partner_id", sa.String(length=40), nullable=False),
    sa.Column("legal_name", sa.String(length=120), nullable=True),
    sa.Column("siret", sa.String(length=14), nullable=True),
    sa.Column("department", sa.String(length=3), nullable=True),
    sa.Column("admin_email", sa.String(length=200), nullable=True),
    sa.Column("hq_street", sa.String(length=200), nullable=True),
    sa.Column("hq_extra", sa.String(length=200), nullable=True),
    sa.Column("hq_postcode", sa.String(length=10), nullable=True),
    sa.Column("hq_city", sa.String(length=100), nullable=True),
    sa.Column("trade_name", sa.String(length=120), nullable=True),
    sa.Column("contact_email", sa.String(length=200), nullable=True),
    sa.Column("phone", sa.String(length=40), nullable=True),
    sa.Column("website", sa.String(length=200), nullable=True),
    sa.Column("site_street", sa.String(length=200), nullable=True),
    sa.Column("site_extra", sa.String(length=200), nullable=True),
    sa.Column("site_postcode", sa.String(length=10), nullable=True),
    sa.Column("site_city", sa.String(length=100), nullable=True),
    sa.Column("account_holder", sa.String(length=120), nullable=True),
    sa.Column("bank_name", sa.String(length=120), nullable=True),
    sa.Column("iban", sa.String(length=34), nullable=True),
    sa.Column("bic", sa.String(length=11), nullable=True),
    sa.Column("updated_at", _UTC, nullable=True),
    sa.ForeignKeyConstraint(["partner_id"], ["partners.partner_id"], name=op.f("fk_partner_profiles_partner_id_partners")),
    sa.PrimaryKeyConstraint("partner_id", name=op.f("pk_partner_profiles"))
    )

    op.create_table("partner_exports",
    sa.Column("id", sa.String(length=24), nullable=False),
    sa.Column("partner_id", sa.String(length=40), nullable=False),
    sa.Column("filename", sa.String(length=120), nullable=False),
    sa.Column("content", sa.Text(), nullable=False),
    sa.Column("rows", sa.Integer(), nullable=False),
    sa.Column("created_at", _UTC, nullable=False),
    sa.Column("created_by", sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(["created_by"], ["web_users.id"], name=op.f("fk_partner_exports_created_by_web_users"), ondelete="SET NULL"),
    sa.ForeignKeyConstraint(["partner_id"], ["partners.partner_id"], name=op.f("fk_partner_exports_partner_id_partners")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_exports"))
    )
    op.create_index(op.f("ix_partner_exports_partner_id"), "partner_exports", ["partner_id"], unique=False)


def downgrade() -> None:
    for index, table in (("ix_partner_exports_partner_id", "partner_exports"),
                         ("ix_web_login_failures_email", "web_login_failures"),
                         ("ix_web_login_failures_client", "web_login_failures"),
                         ("ix_web_login_failures_at", "web_login_failures"),
                         ("ix_web_links_user_id", "web_links"),
                         ("ix_web_sessions_user_id", "web_sessions"),
                         ("ix_web_sessions_expires_at", "web_sessions"),
                         ("ix_web_users_partner_id", "web_users")):
        op.drop_index(op.f(index), table_name=table)
    for table in ("partner_exports", "partner_profiles", "web_login_failures", "web_links",
                  "web_sessions", "web_users"):
        op.drop_table(table)
