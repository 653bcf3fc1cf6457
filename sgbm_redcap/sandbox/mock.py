"""Route ``requests`` traffic into a sandbox in-process with the ``responses`` library."""

from __future__ import annotations

import re
from typing import Any

from .core import Sandbox
from .faults import DroppedConnection


def route_responses(rsps: Any, sandbox: Sandbox, url: str = "https://redcap.sandbox.test/api/") \
        -> str:
    """Answer every POST ``rsps`` intercepts at ``url`` (any query string)
    with ``sandbox.handle``; returns ``url`` for ``redcap.Project(url, token)``.

    A dropped connection (fault injection) surfaces as ``requests.ConnectionError``, as it
    would from a real socket.
    """
    import requests
    import responses

    pattern = re.compile(re.escape(url) + r"(\?.*)?$")

    def callback(request: Any) -> tuple[int, dict[str, str], bytes]:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif not isinstance(body, bytes):
            body = body.read()
        query = request.url.partition("?")[2]
        try:
            return sandbox.handle(body, request.headers.get("Content-Type", ""), query=query,
                                  method=request.method)
        except DroppedConnection as exc:
            raise requests.ConnectionError("Connection aborted: the sandbox dropped it") from exc

    rsps.add_callback(responses.POST, pattern, callback=callback)
    return url
