"""How `fleet serve` and `fleet demo` run the HTTP side (uvicorn), in one place.

Proxy headers: uvicorn believes X-Forwarded-For and X-Forwarded-Proto from 127.0.0.1 by
default, so anything that can reach the server on loopback could pick the client address the
login throttle counts failures against, and escape it. They are believed only from the
reverse proxies named in FLEET_TRUSTED_PROXIES (none by default).
"""

import uvicorn

from fleet_server.settings import Settings


def proxy_options(settings: Settings) -> dict:
    proxies = settings.trusted_proxy_list()
    return {"proxy_headers": bool(proxies), "forwarded_allow_ips": ",".join(proxies)}


def uvicorn_config(app, settings: Settings, **extra) -> uvicorn.Config:
    options = {"host": settings.http_host, "port": settings.http_port,
               "log_level": "warning", **proxy_options(settings)}
    options.update(extra)
    return uvicorn.Config(app, **options)


def run(app, settings: Settings) -> None:
    uvicorn.Server(uvicorn_config(app, settings)).run()
