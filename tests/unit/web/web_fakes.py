"""An in-memory AccountStore and a fast hasher for the unit tests of the web accounts."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher

from fleet_server.adapters.mail_texts import render
from fleet_server.service_layer.accounts import (
    AccountError,
    AccountService,
    AccountStore,
    SessionInfo,
    User,
)

FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


class Clock:
    def __init__(self, start=datetime(2026, 3, 1, 9, 0, tzinfo=UTC)):
        self.now = start

    def __call__(self):
        return self.now

    def advance(self, **kwargs):
        self.now += timedelta(**kwargs)


class MemoryAccountStore(AccountStore):
    def __init__(self):
        self.users_by_id: dict[int, User] = {}
        self.links: dict[str, dict] = {}
        self.sessions: dict[str, dict] = {}
        self.failure_log: list[tuple[str, str, datetime]] = []

    def add_user(self, email, name, role, partner_id, now):
        if any(u.email == email for u in self.users_by_id.values()):
            raise AccountError("taken")
        user = User(len(self.users_by_id) + 1, email, name, role, partner_id, False, False)
        self.users_by_id[user.id] = user
        return user

    def user_by_email(self, email):
        return next((u for u in self.users_by_id.values() if u.email == email), None)

    def user(self, user_id):
        return self.users_by_id.get(user_id)

    def users(self, partner_id=None):
        return [u for u in self.users_by_id.values()
                if partner_id is None or u.partner_id == partner_id]

    def set_password(self, user_id, password_hash, now):
        user = self.users_by_id[user_id]
        first = not user.activated and not user.disabled
        self.users_by_id[user_id] = replace(user, password_hash=password_hash,
                                            activated=user.activated or first,
                                            active=user.active or first)

    def set_active(self, user_id, active, now):
        user = self.users_by_id[user_id]
        self.users_by_id[user_id] = replace(user, active=active and user.activated,
                                            disabled=not active)

    def logged_in(self, user_id, now):
        pass

    def add_link(self, token_hash, user_id, purpose, now, expires_at):
        self.links[token_hash] = dict(user_id=user_id, purpose=purpose, created_at=now,
                                      expires_at=expires_at, used_at=None)

    def links_since(self, user_id, since):
        return sum(1 for v in self.links.values()
                   if v["user_id"] == user_id and v["created_at"] >= since)

    def use_link(self, token_hash, purpose, now):
        link = self.links.get(token_hash)
        if (link is None or link["purpose"] != purpose or link["used_at"] is not None
                or link["expires_at"] <= now or self.users_by_id[link["user_id"]].disabled):
            return None
        self.revoke_links(link["user_id"], now)
        return link["user_id"]

    def revoke_links(self, user_id, now):
        for link in self.links.values():
            if link["user_id"] == user_id and link["used_at"] is None and link["expires_at"] > now:
                link["used_at"] = now

    def add_session(self, token_hash, user_id, csrf_token, now, expires_at):
        self.sessions[token_hash] = dict(user_id=user_id, csrf=csrf_token, expires_at=expires_at,
                                         last_seen_at=now)

    def session(self, token_hash, now, idle):
        row = self.sessions.get(token_hash)
        if row is None or row["expires_at"] <= now or row["last_seen_at"] + idle <= now:
            return None
        user = self.users_by_id[row["user_id"]]
        if not user.active:
            return None
        row["last_seen_at"] = now
        return SessionInfo(user, row["csrf"])

    def end_session(self, token_hash):
        self.sessions.pop(token_hash, None)

    def end_sessions(self, user_id):
        for key in [k for k, v in self.sessions.items() if v["user_id"] == user_id]:
            del self.sessions[key]

    def add_failure(self, email, client, now):
        self.failure_log.append((email, client, now))

    def failures(self, email, since):
        return [t for e, _, t in self.failure_log if e == email and t >= since]

    def client_failures(self, client, since):
        return sum(1 for _, c, t in self.failure_log if c == client and t >= since)

    def clear_failures(self, email):
        self.failure_log = [f for f in self.failure_log if f[0] != email]


class Outbox:
    """The accounts' mail port: keeps each notice as the e-mail it becomes (to, subject, body)."""

    def __init__(self):
        self.sent: list[tuple[str, str, str]] = []

    def __call__(self, to, notice):
        self.sent.append((to, *render(notice)))

    def last_link(self) -> str:
        body = self.sent[-1][2]
        return next(line.strip() for line in body.splitlines() if "token=" in line)


def make_service(clock=None):
    clock = clock or Clock()
    store, outbox = MemoryAccountStore(), Outbox()
    service = AccountService(store, outbox, "http://127.0.0.1:8000", clock, hasher=FAST_HASHER)
    return service, store, outbox, clock


def token_of(link: str) -> str:
    return link.split("token=", 1)[1]
