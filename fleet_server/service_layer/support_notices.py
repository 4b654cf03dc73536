"""E-mails to the partner staff who follow a help request, when the desk changes its status or
adds a note. Who follows: the partner's accounts that opened the request or wrote on it (a
second request for the same terminal joins it as a note). Only the desk's changes are news:
what the partner's own people add is not e-mailed back to them.

Ports: `partner_emails(partner_id)` (the partner's active console accounts) and
`send_notice(to, notice)` (the accounts' mail port; adapters/mail_texts.py words it);
bootstrap_support.partner_notices plugs them in when an SMTP server is set.
"""

from collections.abc import Callable

from fleet_server.domain.support import Intervention
from fleet_server.service_layer.notices import HELP_ANSWER, HELP_STATUS, Notice, SendNotice

PAGE = "/partner/assistance"


class PartnerNotices:
    def __init__(self, partner_emails: Callable[[str], set[str]], send_notice: SendNotice,
                 public_url: str):
        self.partner_emails, self.send_notice = partner_emails, send_notice
        self.public_url = public_url.rstrip("/")

    def __call__(self, item: Intervention, actor: str, what: str, text: str | None) -> None:
        staff = self.partner_emails(item.partner_id) if item.partner_id else set()
        if actor in staff:  # the partner's own people adding to it: not news from the desk
            return
        for to in followers(item, staff, actor):
            self.send_notice(to, notice(item, what, text, self.public_url + PAGE))


def followers(item: Intervention, staff: set[str], actor: str) -> list[str]:
    """The partner's people following the request, but not the one who made the change."""
    involved = {item.opened_by} | {note.author for note in item.notes}
    return sorted((involved & staff) - {actor})


def notice(item: Intervention, what: str, text: str | None, page_url: str) -> Notice:
    """What to tell the followers: the new status ("status"), or the desk's answer ("note")."""
    data = {"number": item.intervention_id, "device_id": item.device_id, "title": item.title,
            "status": item.status, "page_url": page_url}
    if what == "status":
        return Notice(HELP_STATUS, data)
    return Notice(HELP_ANSWER, {**data, "text": text})
