"""Endpoint modules; importing this package registers every endpoint with the dispatcher."""

from . import admin, design, dq, files, records, records_export, surveys  # noqa: F401
