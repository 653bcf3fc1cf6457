"""A local, stateful REDCap API sandbox that PyCap talks to unchanged.

::

    from sgbm_redcap.sandbox import Sandbox, serve_in_thread, route_responses
    sb = Sandbox(data_dir)
    token = sb.create_project("redcap_project/data_dictionary.csv", repeating_forms=[...])
    with serve_in_thread(sb, port=0) as url:      # http://127.0.0.1:PORT/api/
        redcap.Project(url, token).export_records()

See ``docs/sandbox.md`` for the implemented endpoints and the known deviations.
"""

from __future__ import annotations

from .core import Sandbox
from .faults import DroppedConnection, FaultPlan
from .mock import route_responses
from .server import serve_in_thread

__all__ = ["DroppedConnection", "FaultPlan", "Sandbox", "route_responses", "serve_in_thread"]
