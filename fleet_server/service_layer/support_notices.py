"""E-mails to the partner staff who follow a help request, when the desk changes its status or
adds a note. Who follows: the partner's accounts that opened the request or wrote on it (a
second request for the same terminal joins it as a note). Only the desk's changes are news:
what the partner's own people add is not e-mailed back to them.

Ports: `partner_emails(partner_id)` (the partner's active console accounts) and
`send_mail(to, subject, text)` (adapters/smtp_mailer.py); bootstrap.wire_support plugs them in
when an SMTP server is set.
"""

from collections.abc import Callable

from fleet_server.domain.support import STATUSES, Intervention

PAGE = "/partner/assistance"


class PartnerNotices:
    def __init__(self, partner_emails: Callable[[str], set[str]],
                 send_mail: Callable[[str, str, str], None], public_url: str):
        self.partner_emails, self.send_mail = partner_emails, send_mail
        self.public_url = public_url.rstrip("/")

    def __call__(self, item: Intervention, actor: str, what: str, text: str | None) -> None:
        staff = self.partner_emails(item.partner_id) if item.partner_id else set()
        if actor in staff:  # the partner's own people adding to it: not news from the desk
            return
        for to in followers(item, staff, actor):
            self.send_mail(to, *notice(item, what, text, self.public_url + PAGE))


def followers(item: Intervention, staff: set[str], actor: str) -> list[str]:
    """The partner's people following the request, but not the one who made the change."""
    involved = {item.opened_by} | {note.author for note in item.notes}
    return sorted((involved & staff) - {actor})


def notice(item: Intervention, what: str, text: str | None, page_url: str) -> tuple[str, str]:
    """(subject, text) of the e-mail, in French."""
    about = f"n° {item.intervention_id} (terminal {item.device_id}, « {item.title} »)"
    if what == "status":
        status = STATUSES.get(item.status, item.status)
        subject = f"Demande d'assistance n° {item.intervention_id} : {status.lower()}"
        news = f"Votre demande d'assistance {about} est maintenant : {status.lower()}."
    else:
        subject = f"Demande d'assistance n° {item.intervention_id} : nouvelle réponse"
        news = f"L'assistance a répondu à votre demande {about} :\n\n{text or ''}"
    return subject, (f"Bonjour,\n\n{news}\n\nSuivez vos demandes d'assistance dans la console "
                     f"(« Assistance ») : {page_url}\n\nL'assistance du programme\n")
