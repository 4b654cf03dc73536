"""The FastAPI application: health, metrics, REST API (OpenAPI at /docs) and the web console.

Health for a load balancer and an orchestrator: /health/live answers while the process serves
HTTP (restart it when not), /health/ready only when it can do its work, database and broker
reachable (send it no traffic when not); /health gives the details for people."""

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from fleet_server.bootstrap import Fleet


def create_app(fleet: Fleet) -> FastAPI:
    app = FastAPI(title="Counter terminal fleet server", version="0.1.0",
                  description="Device registry, debits forwarded to the ledger, settlement.")
    app.state.fleet = fleet

    @app.get("/health/live", tags=["health"])
    def live() -> dict:
        return {"status": "alive"}

    @app.get("/health/ready", tags=["health"])
    def ready() -> JSONResponse:
        database = fleet.database_ok()
        broker = bool(fleet.bus and fleet.bus.connected.is_set())
        body = {"status": "ready" if database and broker else "not ready",
                "database": database, "broker": broker}
        return JSONResponse(body, status_code=200 if database and broker else 503)

    @app.get("/metrics", tags=["health"], response_class=Response)
    def metrics() -> Response:
        """Prometheus exposition: requests, latencies, queue, terminals, campaigns."""
        from fleet_server.adapters.metrics import CONTENT_TYPE

        return Response(fleet.metrics.exposition() if fleet.metrics else b"",
                        media_type=CONTENT_TYPE)

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
                             "unacknowledged_full_queue": getattr(bus, "dropped", 0)},
                "runs_jobs": fleet.lease is None or fleet.lease.held()}
        return JSONResponse(body)

    from fleet_server.entrypoints.api import include_routers
    from fleet_server.entrypoints.web import include_web  # the console: login, pages, static

    include_routers(app)
    include_web(app)
    return app
