"""The FastAPI application: health, REST API (OpenAPI at /docs) and, later, the web console."""

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from fleet_server.bootstrap import Fleet


def create_app(fleet: Fleet) -> FastAPI:
    app = FastAPI(title="Counter terminal fleet server", version="0.1.0",
                  description="Device registry, debits forwarded to the ledger, settlement.")
    app.state.fleet = fleet

    @app.get("/health", tags=["health"])
    def health() -> JSONResponse:
        bus = fleet.bus
        broker = {
            "connected": bool(bus and bus.connected.is_set()),
            "url": f"mqtt://{bus.host}:{bus.port}" if bus else None,
            "embedded": fleet.broker is not None,
        }
        database = {"ok": fleet.database_ok(), "backend": fleet.engine.dialect.name}
        d = fleet.dispatcher
        body = {"status": "ok" if broker["connected"] and database["ok"] else "degraded",
                "broker": broker, "database": database,
                "messages": {"received": d.received, "refused": d.refused,
                             "unacknowledged_full_queue": getattr(bus, "dropped", 0)}}
        return JSONResponse(body)

    try:
        from fleet_server.entrypoints.api import include_routers
    except ImportError:
        include_routers = None
    if include_routers:
        include_routers(app)
    from fleet_server.entrypoints.web import include_web  # the console: login, pages, static

    include_web(app)
    return app
