"""A real uvicorn server on a free 127.0.0.1 port, in a background thread, for tests.

    with serve(create_ledger_app(ledger, token)) as base_url:
        HttpLedger(base_url, token) ...

Importable as `from http_server import serve` from the tests of this directory (pytest puts a
test file's directory without __init__.py on sys.path, as for tests/integration/fleet_stack.py).
"""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn


@contextmanager
def serve(app, startup_timeout_s: float = 5.0) -> Iterator[str]:
    """Serve the ASGI `app`; yields its base URL ("http://127.0.0.1:<port>")."""
    # The socket is bound here, so the port is known and no other process can take it between
    # choosing and binding.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", log_config=None, lifespan="off",
                            timeout_graceful_shutdown=1, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"test server on port {port} did not start")
            time.sleep(0.005)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()


def free_port() -> int:
    """A loopback port nothing listens on (bound then released: connecting is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
