"""What every page of the web console shares: the logged-in user, roles, CSRF, rendering.

Pages declare who may see them with `require_user(...)`:

    @router.get("/partner/operations")
    def operations(request: Request, user: Annotated[WebUser, require_user(PARTNER_ADMIN)]):
        return render(request, "partner/operations.html", user, rows=...)

- no session: a GET is redirected to /login?next=...; anything else gets a 401 page;
- a role outside the list: a 403 page;
- every POST, PUT, PATCH or DELETE must carry the session's CSRF token, in the form field
  `csrf_token` ({{ csrf_field() }} in a template) or in the X-CSRF-Token header (htmx sends it:
  base.html puts it in hx-headers); otherwise a 403 page.

Forms shown before login (login, activation, reset) use a double-submit token instead: a random
cookie that the form must repeat (anonymous_csrf / check_anonymous_csrf).
"""

import secrets
from pathlib import Path
from typing import Annotated
from urllib.parse import quote, unquote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from fleet_server.bootstrap import Fleet
from fleet_server.domain.roles import (
    OPERATOR,
    PARTNER_ADMIN,
    PARTNER_ROLES,
    PARTNER_USER,
    SUPPORT,
)
from fleet_server.entrypoints.web import labels
from fleet_server.entrypoints.web.layout import format_cents, format_paris, navigation
from fleet_server.service_layer.accounts import AccountService, User

__all__ = ["OPERATOR", "SUPPORT", "PARTNER_ADMIN", "PARTNER_USER", "PARTNER_ROLES", "WebUser",
           "FleetDep", "require_user", "render", "templates", "redirect", "PageError"]

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "fleet_session"
PRE_CSRF_COOKIE = "fleet_csrf"
FLASH_COOKIE = "fleet_flash"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}

templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters["euros"] = format_cents
templates.env.filters["paris"] = format_paris
templates.env.globals["ROLE_LABELS"] = labels.ROLES
labels.install(templates.env)

WebUser = User  # who is logged in: id, email, name, role, partner_id


class PageError(Exception):
    """Ends a page with an error page (status and a French message)."""

    def __init__(self, status_code: int, message: str):
        super().__init__(message)
        self.status_code, self.message = status_code, message


class LoginRequired(Exception):
    def __init__(self, next_url: str):
        self.next_url = next_url


def get_fleet(request: Request) -> Fleet:
    return request.app.state.fleet


def get_accounts(request: Request) -> AccountService:
    return request.app.state.fleet.accounts


FleetDep = Annotated[Fleet, Depends(get_fleet)]
AccountsDep = Annotated[AccountService, Depends(get_accounts)]


def cookie_secure(request: Request) -> bool:
    settings = request.app.state.fleet.settings
    if settings.web_cookie_secure is not None:
        return settings.web_cookie_secure
    return settings.mode == "prod"


async def _submitted_token(request: Request) -> str:
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get("csrf_token")
        return value if isinstance(value, str) else ""
    return ""


def require_user(*roles: str):
    """A dependency: the logged-in user, whose role is one of `roles` (any role when none)."""

    async def check(request: Request, accounts: AccountsDep) -> WebUser:
        info = accounts.session(request.cookies.get(SESSION_COOKIE))
        if info is None:
            if request.method == "GET" and "hx-request" not in request.headers:
                target = request.url.path + (f"?{request.url.query}" if request.url.query
                                             else "")
                raise LoginRequired(target)
            raise PageError(401, "Votre session a expiré : reconnectez-vous.")
        if request.method in UNSAFE:
            submitted = await _submitted_token(request)
            if not secrets.compare_digest(submitted.encode(), info.csrf_token.encode()):
                raise PageError(403, "Jeton de sécurité (CSRF) invalide : rechargez la page "
                                     "et recommencez.")
        if roles and info.user.role not in roles:
            raise PageError(403, "Cette page n'est pas accessible avec votre profil.")
        request.state.user, request.state.csrf_token = info.user, info.csrf_token
        return info.user

    return Depends(check)


def anonymous_csrf(request: Request) -> str:
    """The double-submit token of a form shown before login (reused while the cookie lives)."""
    token = request.cookies.get(PRE_CSRF_COOKIE)
    if not token or len(token) != 43:
        token = secrets.token_urlsafe(32)
    request.state.pre_csrf = token
    return token


async def check_anonymous_csrf(request: Request) -> None:
    cookie = request.cookies.get(PRE_CSRF_COOKIE) or ""
    submitted = await _submitted_token(request)
    if not cookie or not secrets.compare_digest(cookie.encode(), submitted.encode()):
        raise PageError(403, "Jeton de sécurité (CSRF) invalide : rechargez la page et "
                             "recommencez.")


# Rendering.

SECURITY_HEADERS = {
    # Only our own files: no inline script, no third-party host (the machine has no network,
    # and a page handling money should not load code from elsewhere anyway).
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
                               "media-src 'self' blob:; style-src 'self'; script-src 'self'; "
                               "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
                               "form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # one-time links are in URLs: never pass them on
    "Cache-Control": "no-store",
}


def render(request: Request, template: str, user: WebUser | None = None,
           status_code: int = 200, **context) -> HTMLResponse:
    csrf = getattr(request.state, "csrf_token", None) or getattr(request.state, "pre_csrf", "")
    message = _flash(request)
    context.setdefault("message", message)
    context.update(user=user, nav=navigation(user, request.url.path) if user else [],
                   csrf_token=csrf,
                   csrf_field=lambda: Markup('<input type="hidden" name="csrf_token" value="'
                                             f'{escape(csrf)}">'))
    response = templates.TemplateResponse(request, template, context, status_code=status_code,
                                          headers=SECURITY_HEADERS)
    if message:
        response.delete_cookie(FLASH_COOKIE, path="/")
    pre = getattr(request.state, "pre_csrf", None)
    if pre and request.cookies.get(PRE_CSRF_COOKIE) != pre:
        response.set_cookie(PRE_CSRF_COOKIE, pre, httponly=True, samesite="lax",
                            secure=cookie_secure(request), path="/")
    return response


def redirect(url: str, message: str | None = None) -> RedirectResponse:
    """303 after a POST (the browser then GETs), with an optional message shown on arrival.
    The message travels in a short-lived cookie, not in the URL, so nobody can make the
    console show a text of their choosing through a link."""
    response = RedirectResponse(url, status_code=303)
    if message:
        response.set_cookie(FLASH_COOKIE, quote(message[:300]), max_age=60, httponly=True,
                            samesite="lax", path="/")
    return response


def _flash(request: Request) -> str | None:
    message = request.cookies.get(FLASH_COOKIE)
    return unquote(message)[:300] if message else None
