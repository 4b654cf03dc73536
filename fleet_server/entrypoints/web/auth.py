"""Login, logout, account activation and password reset pages."""

import logging
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from fleet_server.adapters.smtp_mailer import MailFailed, MailNotConfigured
from fleet_server.entrypoints.web import refusals
from fleet_server.entrypoints.web.deps import (
    SESSION_COOKIE,
    AccountsDep,
    WebUser,
    anonymous_csrf,
    check_anonymous_csrf,
    cookie_secure,
    redirect,
    render,
    require_user,
)
from fleet_server.entrypoints.web.layout import format_paris, home_of
from fleet_server.service_layer.accounts import ACTIVATE, RESET, AccountError, LoginRefused

router = APIRouter(include_in_schema=False)
log = logging.getLogger("fleet.web")

Text = Annotated[str, Form(max_length=1024)]
REFUSALS = {
    "invalid": "Adresse e-mail ou mot de passe incorrect.",
    "throttled": "Trop de tentatives depuis votre connexion : réessayez dans quelques minutes.",
    "disabled": "Ce compte est désactivé. Contactez l'administrateur de votre structure.",
}


def _safe_next(target: str | None) -> str | None:
    # Only a path on this site: "//evil.example" or "https://..." would be an open redirect.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def _client(request: Request) -> str:
    return (request.client.host if request.client else "unknown")[:64]


@router.get("/")
def root(request: Request, accounts: AccountsDep):
    info = accounts.session(request.cookies.get(SESSION_COOKIE))
    return RedirectResponse(home_of(info.user.role) if info else "/login", status_code=303)


@router.get("/login")
def login_page(request: Request, next: str | None = None):
    anonymous_csrf(request)
    return render(request, "auth/login.html", next=_safe_next(next))


@router.post("/login", dependencies=[Depends(check_anonymous_csrf)])
def login(request: Request, accounts: AccountsDep, email: Text, password: Text,
          next: Annotated[str | None, Form(max_length=500)] = None):
    anonymous_csrf(request)
    try:
        token, user = accounts.login(email, password, _client(request))
    except LoginRefused as refused:
        message = REFUSALS.get(refused.reason)
        if refused.reason == "locked":
            message = ("Trop d'échecs de connexion pour ce compte : il est bloqué jusqu'à "
                       f"{format_paris(refused.until, '%H:%M')}.")
        return render(request, "auth/login.html", status_code=429 if refused.reason in (
            "locked", "throttled") else 401, error=message, email=email[:200],
                      next=_safe_next(next))
    response = RedirectResponse(_safe_next(next) or home_of(user.role), status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax",
                        secure=cookie_secure(request), path="/")
    return response


@router.post("/logout")
def logout(request: Request, accounts: AccountsDep, _: Annotated[WebUser, require_user()]):
    accounts.logout(request.cookies.get(SESSION_COOKIE))
    response = redirect("/login", "Vous êtes déconnecté.")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _password_page(request: Request, purpose: str, token: str, error: str | None = None,
                   status_code: int = 200):
    anonymous_csrf(request)
    title = "Activer mon compte" if purpose == ACTIVATE else "Nouveau mot de passe"
    return render(request, "auth/set_password.html", status_code=status_code, title=title,
                  action="/activate" if purpose == ACTIVATE else "/password/reset",
                  token=token, error=error)


def _complete(request: Request, accounts, purpose: str, token: str, password: str,
              confirm: str):
    try:
        accounts.complete_link(token, purpose, password, confirm)
    except AccountError as err:
        return _password_page(request, purpose, token, refusals.text(err), status_code=400)
    done = ("Votre compte est activé : connectez-vous." if purpose == ACTIVATE
            else "Votre mot de passe est changé : connectez-vous.")
    return redirect("/login", done)


@router.get("/activate")
def activate_page(request: Request):
    return _password_page(request, ACTIVATE, request.query_params.get("token", "")[:100])


@router.post("/activate", dependencies=[Depends(check_anonymous_csrf)])
def activate(request: Request, accounts: AccountsDep, token: Text, password: Text,
             confirm: Text):
    return _complete(request, accounts, ACTIVATE, token, password, confirm)


@router.get("/password/reset")
def reset_page(request: Request):
    return _password_page(request, RESET, request.query_params.get("token", "")[:100])


@router.post("/password/reset", dependencies=[Depends(check_anonymous_csrf)])
def reset(request: Request, accounts: AccountsDep, token: Text, password: Text,
          confirm: Text):
    return _complete(request, accounts, RESET, token, password, confirm)


@router.get("/password/forgot")
def forgot_page(request: Request):
    anonymous_csrf(request)
    return render(request, "auth/forgot.html")


@router.post("/password/forgot", dependencies=[Depends(check_anonymous_csrf)])
def forgot(request: Request, accounts: AccountsDep, email: Text):
    try:
        accounts.request_reset(email)
    except (MailNotConfigured, MailFailed) as err:
        # Said the same way as success: the page must not reveal which addresses exist.
        log.warning("password reset e-mail not sent: %s", err)
    return redirect("/login", "Si un compte existe pour cette adresse, un lien de "
                              "réinitialisation vient d'y être envoyé (valable 24 heures).")


@router.get("/account")
def account(request: Request, user: Annotated[WebUser, require_user()]):
    return render(request, "auth/account.html", user)
