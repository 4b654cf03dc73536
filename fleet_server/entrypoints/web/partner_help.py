"""The partner's "Assistance" page: the programme's support line (settings), and the help
requests the partner's people made, with their status and the desk's answers."""

from fastapi import APIRouter, Request

from fleet_server.entrypoints.web.deps import FleetDep, render
from fleet_server.entrypoints.web.layout import add_nav
from fleet_server.entrypoints.web.partner_pages import Admin, support_contact
from fleet_server.service_layer.partner_help import partner_requests

router = APIRouter(include_in_schema=False)
add_nav("partner_admin", "Assistance", "/partner/assistance")


@router.get("/partner/assistance")
def assistance(request: Request, user: Admin, fleet: FleetDep):
    desk = fleet.support
    staff = {u.email for u in fleet.accounts.users(user.partner_id)}
    requests = partner_requests(desk.store, user.partner_id, staff) if desk else []
    return render(request, "partner/assistance.html", user, requests=requests,
                  contact=support_contact(fleet.settings), can_ask=desk is not None)
