"""Endpoint modules; importing this package registers every endpoint with the dispatcher."""

from . import admin, design, records  # noqa: F401

try:  # the optional endpoint groups
    from . import dq, files, surveys  # noqa: F401
except ImportError:  # pragma: no cover - only while a module is being written
    pass
