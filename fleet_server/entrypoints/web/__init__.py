"""The web console: server-rendered French pages (Jinja2; partial updates by
/static/fragments.js, which reads htmx-style hx-* attributes).

`include_web(app)` mounts the static files, the login pages and every page module present;
docs/web-console.md says how a page module plugs in (require_user, render, base.html).
"""

import importlib
import logging

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from fleet_server.entrypoints.web.deps import HERE, LoginRequired, PageError, render
from fleet_server.entrypoints.web.labels import invalid_form_text

log = logging.getLogger("fleet.web")

# Page modules, each with a `router`. Absent ones are skipped, so a module can land on its own.
PAGE_MODULES = ("auth", "partner_pages", "partner_admin", "partner_help", "till",
                "operator_pages", "operator_codes", "operator_updates", "operator_categories",
                "support")


def include_web(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for name in PAGE_MODULES:
        try:
            module = importlib.import_module(f"fleet_server.entrypoints.web.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"fleet_server.entrypoints.web.{name}":
                raise  # a real missing dependency inside the module, not an absent module
            continue
        app.include_router(module.router)

    @app.exception_handler(LoginRequired)
    async def _login(_request: Request, exc: LoginRequired):
        return RedirectResponse("/login?next=" + _quote(exc.next_url), status_code=303)

    @app.exception_handler(RequestValidationError)
    async def _invalid_form(request: Request, exc: RequestValidationError):
        # A page's form the browser's own checks let through (an edited field, an old page):
        # a French page, not FastAPI's English JSON. The API keeps FastAPI's answer.
        if request.url.path.startswith("/api/"):
            return await request_validation_exception_handler(request, exc)
        return render(request, "error.html", getattr(request.state, "user", None),
                      status_code=422, error=invalid_form_text(exc.errors()))

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError):
        user = getattr(request.state, "user", None)
        response = render(request, "error.html", user, status_code=exc.status_code,
                          error=exc.message)
        if exc.status_code == 401 and "hx-request" in request.headers:
            response.headers["HX-Redirect"] = "/login"
        return response


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")
