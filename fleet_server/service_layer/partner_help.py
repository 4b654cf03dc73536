"""A partner's help requests as the partner follows them: the support desk's interventions
that the partner's own people opened or wrote on, with their status and notes.

The desk's notes are the answers the partner reads (the desk's note form says so). Who wrote a
note is shown as the desk (the page says "Assistance") unless it is one of the partner's
people: agents' addresses stay with the desk.
"""

from dataclasses import dataclass
from datetime import datetime

from fleet_server.domain.support import Intervention
from fleet_server.service_layer.support_ports import SupportStore


@dataclass(frozen=True)
class Message:
    at: datetime
    author: str | None  # the partner's person's e-mail; None for the desk
    from_desk: bool
    text: str


@dataclass(frozen=True)
class HelpRequest:
    number: int
    device_id: str
    title: str
    category: str
    status: str
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    messages: tuple[Message, ...]


def partner_requests(store: SupportStore, partner_id: str, staff: set[str],
                     limit: int = 50) -> list[HelpRequest]:
    """Newest first: the partner's terminals' interventions its people opened or wrote on
    (not those the alert monitor opened alone, which the desk handles with the partner on
    the phone)."""
    found = []
    for summary in store.interventions(partner_id=partner_id, limit=200):
        item = store.intervention(summary.intervention_id)
        if item is None or not _followed(item, staff):
            continue
        found.append(_view(item, staff))
        if len(found) >= limit:
            break
    return found


def _followed(item: Intervention, staff: set[str]) -> bool:
    return item.opened_by in staff or any(note.author in staff for note in item.notes)


def _view(item: Intervention, staff: set[str]) -> HelpRequest:
    messages = tuple(Message(n.at, n.author if n.author in staff else None,
                             n.author not in staff, n.text) for n in item.notes)
    return HelpRequest(item.intervention_id, item.device_id, item.title, item.category,
                       item.status, item.opened_at, item.updated_at, item.resolved_at,
                       messages)
