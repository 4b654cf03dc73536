"""Web accounts: creation with an e-mailed activation link, login with throttling, sessions,
password reset. Storage and mail are ports (AccountStore, a SendNotice callable that gets a
notice kind and its link), so this module knows nothing of SQL, SMTP or the e-mails' words.

Tokens (sessions, one-time links) have 256 random bits and only their SHA-256 is stored.
Passwords are hashed with Argon2id (argon2-cffi), whose parameters live in the hash itself, so
they can be raised later: a login with an older hash re-hashes it.
"""

import abc
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from fleet_server.domain.roles import PARTNER_ROLES, ROLES
from fleet_server.service_layer.accounts_policy import (
    Throttle,
    normalise_email,
    password_problems,
)
from fleet_server.service_layer.notices import (
    ACCOUNT_ACTIVATION,
    PASSWORD_RESET,
    Notice,
    SendNotice,
)
from fleet_server.service_layer.refusals import Refused

LINK_LIFETIME = timedelta(hours=24)
SESSION_LIFETIME = timedelta(hours=12)  # absolute
SESSION_IDLE = timedelta(hours=2)
LINKS_PER_HOUR = 3  # reset e-mails one address can cause, so the form cannot spam a mailbox
ACTIVATE, RESET = "activate", "reset"


@dataclass(frozen=True)
class User:
    id: int
    email: str
    name: str | None
    role: str
    partner_id: str | None
    active: bool
    activated: bool
    password_hash: str | None = field(default=None, repr=False)  # never in a log line
    # Switched off by an admin. Kept apart from `active` (which is also false before the
    # first activation) so that a disabled invitation cannot activate itself.
    disabled: bool = False

    @property
    def is_partner(self) -> bool:
        return self.role in PARTNER_ROLES


@dataclass(frozen=True)
class SessionInfo:
    user: User
    csrf_token: str


class AccountError(Refused, ValueError):
    """A request about accounts that cannot be done: email_invalid, email_taken, role_unknown,
    partner_role_mismatch, no_account, account_disabled, passwords_differ, password_weak
    (details: problems, password_problems' codes), link_invalid, link_spent. The console
    words them (entrypoints/web/refusals.py)."""


class LoginRefused(Exception):
    """reason: "invalid" (wrong address or password), "locked" (too many failures on this
    address; `until` says when it ends), "throttled" (too many failures from this client),
    "disabled" (right password, account switched off)."""

    def __init__(self, reason: str, until: datetime | None = None):
        super().__init__(reason)
        self.reason, self.until = reason, until


class AccountStore(abc.ABC):
    @abc.abstractmethod
    def add_user(self, email: str, name: str | None, role: str, partner_id: str | None,
                 now: datetime) -> User:
        """Raises AccountError when the address is taken."""

    @abc.abstractmethod
    def user_by_email(self, email: str) -> User | None: ...

    @abc.abstractmethod
    def user(self, user_id: int) -> User | None: ...

    @abc.abstractmethod
    def users(self, partner_id: str | None = None) -> list[User]: ...

    @abc.abstractmethod
    def set_password(self, user_id: int, password_hash: str, now: datetime) -> None:
        """Also activates an account never activated (not one switched off since)."""

    @abc.abstractmethod
    def set_active(self, user_id: int, active: bool, now: datetime) -> None:
        """Switch an account off (`disabled`, and no longer active) or on again (active if
        it was ever activated; an invitation switched on again needs a new link)."""

    @abc.abstractmethod
    def logged_in(self, user_id: int, now: datetime) -> None: ...

    @abc.abstractmethod
    def add_link(self, token_hash: str, user_id: int, purpose: str, now: datetime,
                 expires_at: datetime) -> None: ...

    @abc.abstractmethod
    def links_since(self, user_id: int, since: datetime) -> int: ...

    @abc.abstractmethod
    def use_link(self, token_hash: str, purpose: str, now: datetime) -> int | None:
        """Mark a live link used, with every other live link of its user, and return the user
        id; None when unknown, used, expired or its user is disabled. Once only, even for two
        requests at the same moment, and one link completed spends all the others (an older
        reset link must not work after a newer one set the password)."""

    @abc.abstractmethod
    def revoke_links(self, user_id: int, now: datetime) -> None:
        """Spend every live link of the user (the account was switched off)."""

    @abc.abstractmethod
    def add_session(self, token_hash: str, user_id: int, csrf_token: str, now: datetime,
                    expires_at: datetime) -> None: ...

    @abc.abstractmethod
    def session(self, token_hash: str, now: datetime, idle: timedelta
                ) -> SessionInfo | None:
        """A live session of an active user (not expired, not idle too long), refreshed."""

    @abc.abstractmethod
    def end_session(self, token_hash: str) -> None: ...

    @abc.abstractmethod
    def end_sessions(self, user_id: int) -> None: ...

    @abc.abstractmethod
    def add_failure(self, email: str, client: str, now: datetime) -> None: ...

    @abc.abstractmethod
    def failures(self, email: str, since: datetime) -> list[datetime]: ...

    @abc.abstractmethod
    def client_failures(self, client: str, since: datetime) -> int: ...

    @abc.abstractmethod
    def clear_failures(self, email: str) -> None: ...


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class AccountService:
    def __init__(self, store: AccountStore, send_notice: SendNotice,
                 public_url: str, clock: Callable[[], datetime],
                 hasher: PasswordHasher | None = None, throttle: Throttle | None = None):
        self.store, self.send_notice, self.clock = store, send_notice, clock
        self.public_url = public_url.rstrip("/")
        self.hasher = hasher or PasswordHasher()
        self.throttle = throttle or Throttle()
        # Verified against when the address is unknown, so both cases take the same time.
        self._decoy = self.hasher.hash(secrets.token_urlsafe(16))

    # Accounts.

    def invite(self, email: str, role: str, partner_id: str | None = None,
               name: str | None = None, send: bool = True) -> tuple[User, str]:
        """Create an account and e-mail its activation link; returns (user, link)."""
        address = normalise_email(email)
        if address is None:
            raise AccountError("email_invalid")
        if role not in ROLES:
            raise AccountError("role_unknown")
        if (role in PARTNER_ROLES) != bool(partner_id):
            raise AccountError("partner_role_mismatch")
        name = (name or "").strip()[:120] or None
        user = self.store.add_user(address, name, role, partner_id, self.clock())
        link = self._link(user, ACTIVATE)
        if send:
            self.send_activation(user.email, link)
        return user, link

    def send_activation(self, email: str, link: str) -> None:
        """E-mail an activation link (invite(send=False) leaves it to the caller)."""
        self.send_notice(email, Notice(ACCOUNT_ACTIVATION, {"link": link}))

    def users(self, partner_id: str | None = None) -> list[User]:
        return self.store.users(partner_id)

    def user(self, user_id: int) -> User | None:
        return self.store.user(user_id)

    def set_active(self, user_id: int, active: bool) -> None:
        """Switch an account off or on. Off also spends its links, so a disabled invitation
        (or a reset link sent before) cannot activate it or set its password: this is how the
        console cancels an invitation. A cancelled invitation switched on again gets its
        activation link through "mot de passe oublié"."""
        now = self.clock()
        self.store.set_active(user_id, active, now)
        if not active:
            self.store.revoke_links(user_id, now)
            self.store.end_sessions(user_id)

    # One-time links.

    def _link(self, user: User, purpose: str) -> str:
        token = secrets.token_urlsafe(32)
        now = self.clock()
        self.store.add_link(token_hash(token), user.id, purpose, now, now + LINK_LIFETIME)
        path = "/activate" if purpose == ACTIVATE else "/password/reset"
        return f"{self.public_url}{path}?token={token}"

    def new_link(self, email: str) -> str:
        """A fresh one-time link for an account (activation if never activated, else reset),
        not e-mailed: for the server's shell when no e-mail can be sent."""
        address = normalise_email(email)
        user = self.store.user_by_email(address) if address else None
        if user is None:
            raise AccountError("no_account")
        if user.disabled:
            raise AccountError("account_disabled")
        return self._link(user, RESET if user.activated else ACTIVATE)

    def request_reset(self, email: str) -> None:
        """Send a reset link when the address has an account. Says nothing either way, so the
        form does not tell who has an account."""
        address = normalise_email(email)
        user = self.store.user_by_email(address) if address else None
        if user is None or user.disabled:  # a disabled account gets no link, silently
            return
        if self.store.links_since(user.id, self.clock() - timedelta(hours=1)) >= LINKS_PER_HOUR:
            return
        purpose = RESET if user.activated else ACTIVATE
        link = self._link(user, purpose)
        kind = PASSWORD_RESET if purpose == RESET else ACCOUNT_ACTIVATION
        self.send_notice(user.email, Notice(kind, {"link": link}))

    def complete_link(self, token: str, purpose: str, password: str, confirm: str) -> User:
        """Set the password through an activation or reset link (used once)."""
        if password != confirm:
            raise AccountError("passwords_differ")
        problems = password_problems(password)
        if problems:
            raise AccountError("password_weak", problems=problems)
        if not token or len(token) > 100:
            raise AccountError("link_invalid")
        user_id = self.store.use_link(token_hash(token), purpose, self.clock())
        if user_id is None:
            raise AccountError("link_spent")
        self.store.set_password(user_id, self.hasher.hash(password), self.clock())
        self.store.end_sessions(user_id)  # a reset logs out every other browser
        return self.store.user(user_id)

    # Login and sessions.

    def login(self, email: str, password: str, client: str) -> tuple[str, User]:
        """A new session token (for the cookie) and its user; raises LoginRefused."""
        now = self.clock()
        address = normalise_email(email) or (email or "").strip().lower()[:200]
        since = now - self.throttle.window
        if self.throttle.client_blocked(self.store.client_failures(client, since)):
            raise LoginRefused("throttled")
        until = self.throttle.locked_until(self.store.failures(address, since), now)
        if until is not None:
            raise LoginRefused("locked", until)
        user = self.store.user_by_email(address) if len(password) <= 1024 else None
        if not self._password_ok(user, password):
            self.store.add_failure(address, client, now)
            until = self.throttle.locked_until(self.store.failures(address, since), now)
            raise LoginRefused("locked" if until else "invalid", until)
        if not user.active:
            raise LoginRefused("disabled")
        if self.hasher.check_needs_rehash(user.password_hash):
            self.store.set_password(user.id, self.hasher.hash(password), now)
        self.store.clear_failures(address)
        self.store.logged_in(user.id, now)
        token = secrets.token_urlsafe(32)
        self.store.add_session(token_hash(token), user.id, secrets.token_urlsafe(32), now,
                               now + SESSION_LIFETIME)
        return token, user

    def _password_ok(self, user: User | None, password: str) -> bool:
        stored = user.password_hash if user is not None and user.password_hash else None
        try:
            return self.hasher.verify(stored or self._decoy, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    def session(self, token: str | None) -> SessionInfo | None:
        if not token or len(token) > 100:
            return None
        return self.store.session(token_hash(token), self.clock(), SESSION_IDLE)

    def logout(self, token: str | None) -> None:
        if token and len(token) <= 100:
            self.store.end_session(token_hash(token))

