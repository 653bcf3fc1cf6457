"""A real HTTP server on 127.0.0.1 in front of :meth:`Sandbox.handle` (threaded)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from .faults import DroppedConnection

if TYPE_CHECKING:
    from .core import Sandbox

log = logging.getLogger(__name__)
HOST = "127.0.0.1"


def _handler_class(sandbox: Sandbox) -> type[BaseHTTPRequestHandler]:
    class ApiHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "sgbm-redcap-sandbox"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            log.debug("%s %s", self.address_string(), format % args)

        def _answer(self, method: str) -> None:
            path, _, query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if not path.rstrip("/").endswith("/api"):
                status, headers, payload = 404, {"Content-Type": "text/html"}, (
                    b"The requested URI was not found.")
            else:
                try:
                    status, headers, payload = sandbox.handle(
                        body, self.headers.get("Content-Type", ""), query=query, method=method)
                except DroppedConnection:
                    self.close_connection = True
                    try:
                        self.connection.shutdown(2)
                    except OSError:
                        pass
                    return
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self._answer("POST")

        def do_GET(self) -> None:  # noqa: N802
            self._answer("GET")

        def do_PUT(self) -> None:  # noqa: N802
            self._answer("PUT")

        def do_DELETE(self) -> None:  # noqa: N802
            self._answer("DELETE")

    return ApiHandler


def make_server(sandbox: Sandbox, port: int = 0, host: str = HOST) -> ThreadingHTTPServer:
    """A threaded server bound to loopback (``port=0`` picks a free port)."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("the sandbox only listens on the loopback interface")
    server = ThreadingHTTPServer((host, port), _handler_class(sandbox))
    server.daemon_threads = True
    return server


def api_url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/api/"


@contextmanager
def serve_in_thread(sandbox: Sandbox, port: int = 0) -> Iterator[str]:
    """Serve ``sandbox`` on 127.0.0.1 in a background thread; yields the ``/api/`` URL."""
    server = make_server(sandbox, port)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="redcap-sandbox", daemon=True)
    thread.start()
    try:
        yield api_url(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
