"""SQLAlchemy implementation of the AccountStore port."""

from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from fleet_server.adapters.orm_accounts import LinkRow, LoginAttemptRow, SessionRow, UserRow
from fleet_server.service_layer.accounts import (
    AccountError,
    AccountStore,
    SessionInfo,
    User,
)

TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at precision: a page view is not a write


def _user(row: UserRow) -> User:
    return User(row.id, row.email, row.name, row.role, row.partner_id, row.active,
                row.activated_at is not None, row.password_hash, row.disabled_at is not None)


class SqlAccountStore(AccountStore):
    def __init__(self, session_factory: sessionmaker):
        self.sf = session_factory

    def add_user(self, email, name, role, partner_id, now) -> User:
        try:
            with self.sf() as s, s.begin():
                row = UserRow(email=email, name=name, role=role, partner_id=partner_id,
                              active=False, created_at=now)
                s.add(row)
                s.flush()
                return _user(row)
        except IntegrityError as err:
            raise AccountError("email_taken") from err

    def user_by_email(self, email):
        with self.sf() as s:
            row = s.scalar(select(UserRow).where(UserRow.email == email))
            return _user(row) if row else None

    def user(self, user_id):
        with self.sf() as s:
            row = s.get(UserRow, user_id)
            return _user(row) if row else None

    def users(self, partner_id=None):
        q = select(UserRow).order_by(UserRow.email)
        if partner_id is not None:
            q = q.where(UserRow.partner_id == partner_id)
        with self.sf() as s:
            return [_user(r) for r in s.scalars(q)]

    def set_password(self, user_id, password_hash, now):
        with self.sf() as s, s.begin():
            row = s.get(UserRow, user_id)
            row.password_hash = password_hash
            if row.activated_at is None and row.disabled_at is None:
                row.activated_at, row.active = now, True

    def set_active(self, user_id, active, now):
        with self.sf() as s, s.begin():
            row = s.get(UserRow, user_id, with_for_update=True)
            if row is None:
                return
            row.disabled_at = None if active else (row.disabled_at or now)
            row.active = active and row.activated_at is not None

    def logged_in(self, user_id, now):
        with self.sf() as s, s.begin():
            s.execute(update(UserRow).where(UserRow.id == user_id).values(last_login_at=now))

    def add_link(self, token_hash, user_id, purpose, now, expires_at):
        with self.sf() as s, s.begin():
            s.add(LinkRow(token_hash=token_hash, user_id=user_id, purpose=purpose,
                          created_at=now, expires_at=expires_at))

    def links_since(self, user_id, since):
        with self.sf() as s:
            return s.scalar(select(func.count()).select_from(LinkRow).where(
                LinkRow.user_id == user_id, LinkRow.created_at >= since))

    def use_link(self, token_hash, purpose, now):
        with self.sf() as s, s.begin():
            link = s.execute(select(LinkRow.user_id, LinkRow.purpose).where(
                LinkRow.token_hash == token_hash)).first()
            if link is None or link.purpose != purpose:
                return None
            # The user's row lock orders two links of one person completed at the same
            # moment (PostgreSQL; SQLite has one writer anyway): the second finds none live.
            user = s.get(UserRow, link.user_id, with_for_update=True)
            if user is None or user.disabled_at is not None:
                return None
            spent = s.scalars(self._spend_live_links(link.user_id, now)
                              .returning(LinkRow.token_hash)).all()
            return link.user_id if token_hash in spent else None

    @staticmethod
    def _spend_live_links(user_id, now):
        return update(LinkRow).where(LinkRow.user_id == user_id, LinkRow.used_at.is_(None),
                                     LinkRow.expires_at > now).values(used_at=now)

    def revoke_links(self, user_id, now):
        with self.sf() as s, s.begin():
            s.execute(self._spend_live_links(user_id, now))

    def add_session(self, token_hash, user_id, csrf_token, now, expires_at):
        with self.sf() as s, s.begin():
            s.add(SessionRow(token_hash=token_hash, user_id=user_id, csrf_token=csrf_token,
                             created_at=now, expires_at=expires_at, last_seen_at=now))

    def session(self, token_hash, now, idle):
        with self.sf() as s:
            found = s.execute(select(SessionRow, UserRow).join(
                UserRow, UserRow.id == SessionRow.user_id).where(
                SessionRow.token_hash == token_hash)).first()
            if found is None:
                return None
            row, user = found
            if row.expires_at <= now or row.last_seen_at + idle <= now or not user.active:
                return None
            if now - row.last_seen_at >= TOUCH_EVERY:
                s.execute(update(SessionRow).where(SessionRow.token_hash == token_hash)
                          .values(last_seen_at=now))
                s.commit()
            return SessionInfo(_user(user), row.csrf_token)

    def end_session(self, token_hash):
        with self.sf() as s, s.begin():
            s.execute(delete(SessionRow).where(SessionRow.token_hash == token_hash))

    def end_sessions(self, user_id):
        with self.sf() as s, s.begin():
            s.execute(delete(SessionRow).where(SessionRow.user_id == user_id))

    def add_failure(self, email, client, now):
        with self.sf() as s, s.begin():
            s.add(LoginAttemptRow(email=email[:200], client=client[:64], at=now))
            # Old rows are of no use to the throttle: keep the table small as it goes.
            s.execute(delete(LoginAttemptRow).where(LoginAttemptRow.at < now - timedelta(days=1)))

    def failures(self, email, since):
        with self.sf() as s:
            return list(s.scalars(select(LoginAttemptRow.at).where(
                LoginAttemptRow.email == email, LoginAttemptRow.at >= since)))

    def client_failures(self, client, since):
        with self.sf() as s:
            return s.scalar(select(func.count()).select_from(LoginAttemptRow).where(
                LoginAttemptRow.client == client, LoginAttemptRow.at >= since))

    def clear_failures(self, email):
        with self.sf() as s, s.begin():
            s.execute(delete(LoginAttemptRow).where(LoginAttemptRow.email == email))

