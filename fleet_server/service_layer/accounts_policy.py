"""Pure rules of the web accounts: password policy, e-mail addresses, login throttling.

No I/O and no clock: callers pass `now`. Problems are codes; the console words them
(entrypoints/web/refusals.py).
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

PASSWORD_MIN = 12
PASSWORD_MAX = 128  # bounds the hashing work an attacker can ask for
SPECIALS = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def password_problems(password: str) -> list[str]:
    """What is wrong with the password, as codes (too_short, too_long, no_upper, no_lower,
    no_digit, no_special, has_space, has_control); an empty list when it is acceptable.

    The seed's rule: 12 characters at least, one upper-case and one lower-case letter, one
    digit, one special character; a space is not a special character and is refused.
    """
    problems = []
    if len(password) < PASSWORD_MIN:
        problems.append("too_short")
    if len(password) > PASSWORD_MAX:
        problems.append("too_long")
    if not any(c.isupper() for c in password):
        problems.append("no_upper")
    if not any(c.islower() for c in password):
        problems.append("no_lower")
    if not any(c.isdigit() for c in password):
        problems.append("no_digit")
    if not any(c in SPECIALS for c in password):
        problems.append("no_special")
    if any(c.isspace() for c in password):
        problems.append("has_space")
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        problems.append("has_control")
    return problems


def normalise_email(raw: str) -> str | None:
    """Lower-cased and trimmed; None when it is not a plausible address."""
    email = (raw or "").strip().lower()
    if len(email) > 200 or not _EMAIL.match(email):
        return None
    return email


@dataclass(frozen=True)
class Throttle:
    """Failed logins allowed before a pause. Per address: a handful, then a lockout; per
    client (IP): more, since an office shares one address, but still bounded."""

    window: timedelta = timedelta(minutes=15)
    per_email: int = 5
    per_client: int = 30
    lockout: timedelta = timedelta(minutes=15)

    def locked_until(self, failures_by_email: list[datetime], now: datetime
                     ) -> datetime | None:
        """When the account's lockout ends, or None when it may try now. The failures are
        those inside the window (any order)."""
        recent = sorted(t for t in failures_by_email if t > now - self.window)
        if len(recent) < self.per_email:
            return None
        until = recent[-1] + self.lockout
        return until if until > now else None

    def client_blocked(self, failures_by_client: int) -> bool:
        return failures_by_client >= self.per_client
