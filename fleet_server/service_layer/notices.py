"""What the services tell people by e-mail: a notice kind and its data, never its words.

The services hand a Notice to their mail port (`SendNotice`: to, notice); the words of each
kind, subject and body in French, are the mail adapter's (adapters/mail_texts.py), so the
services stay free of the language the partners read.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

# An account's activation link (data: link), a password reset link (data: link).
ACCOUNT_ACTIVATION, PASSWORD_RESET = "account_activation", "password_reset"
# The desk changed the status of a help request, or answered it (data: number, device_id,
# title, status, page_url; and text for an answer).
HELP_STATUS, HELP_ANSWER = "help_status", "help_answer"


@dataclass(frozen=True)
class Notice:
    kind: str
    data: dict = field(default_factory=dict)


SendNotice = Callable[[str, Notice], None]
