"""The reference ledger on its own, as a remote ledger's HTTP service (`fleet ledger-serve`):
built here, in the composition root, so that the entrypoints never import the reference
ledger's package (the `fleet` command only says where and how to serve it)."""

from fleet_server.reference_ledger.http_app import serve_reference_ledger
from fleet_server.settings import Settings


def serve_ledger(settings: Settings, host: str, port: int, token: str | None) -> None:
    """Serve the reference ledger of `settings.db_url` until interrupted."""
    serve_reference_ledger(settings.db_url, host, port, token)
