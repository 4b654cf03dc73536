"""Wiring of the support desk (docs/support.md): its services on the SQL store and the live
view, the partner e-mails after a help request, and its ticker."""

import threading
import time
from collections.abc import Callable

from fleet_server.entrypoints.support_texts import TicketTexts
from fleet_server.service_layer.accounts import AccountService
from fleet_server.service_layer.device_status import StatusTracker
from fleet_server.service_layer.messaging import Publish
from fleet_server.service_layer.support import SupportDesk
from fleet_server.service_layer.support_commands import CommandDesk
from fleet_server.service_layer.support_interventions import InterventionDesk


def build_support(store, status: StatusTracker, keys, publish: Publish, clock, settings,
                  accounts: AccountService) -> SupportDesk:
    """Commands go out through the broker connection when there is one; until then they wait
    in the queue like for an offline terminal."""
    commands = CommandDesk(store, status, keys, publish, clock)
    interventions = InterventionDesk(store, status, clock, TicketTexts(),
                                     partner_notices(settings, accounts))
    return SupportDesk(store, status, commands, interventions, clock)


def partner_notices(settings, accounts: AccountService):
    """E-mails to partners following a help request; None without an SMTP server."""
    if not settings.smtp_host:
        return None
    from fleet_server.service_layer.support_notices import PartnerNotices

    def staff(partner_id: str) -> set[str]:
        return {u.email for u in accounts.users(partner_id) if u.active}

    return PartnerNotices(staff, accounts.send_notice, settings.public_url)


def start_support_ticker(desk: SupportDesk, runs_jobs: Callable[[], bool],
                         every_s: float = 0.5) -> tuple[threading.Thread, Callable[[], None]]:
    """Batched status writes, command timeouts, alerts, pruning: in a daemon thread. Returns
    the thread and what stops it (with a last flush) when the fleet closes."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_s):
            desk.tick(time.monotonic(), runs_jobs=runs_jobs())

    thread = threading.Thread(target=loop, name="support-ticker", daemon=True)
    thread.start()

    def halt() -> None:
        stop.set()
        thread.join(5)
        desk.status.flush()

    return thread, halt
