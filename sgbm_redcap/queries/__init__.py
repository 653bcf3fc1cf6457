"""Data queries: stable ids, reconciliation with what REDCap holds, two backends, the audit
log and the per-site listings.

::

    backend = RecordsBackend(RedcapHttp(url, token))
    result = sync_queries(findings, backend, today=date.today(), audit=AuditLog(path))
"""

from __future__ import annotations

from sgbm_redcap.checks.findings import query_id, query_ids
from sgbm_redcap.queries.audit import AuditLog
from sgbm_redcap.queries.backends import DataQualityApiBackend, RecordsBackend, RedcapHttp
from sgbm_redcap.queries.reconcile import (
    ANSWERED,
    CLOSED,
    EXISTING_COLUMNS,
    OPEN,
    REOPENED,
    Plan,
    apply_plan,
    normalise_existing,
    reconcile,
)
from sgbm_redcap.queries.sync import SyncResult, sync_queries

__all__ = [
    "ANSWERED", "AuditLog", "CLOSED", "DataQualityApiBackend", "EXISTING_COLUMNS", "OPEN",
    "Plan", "REOPENED", "RecordsBackend", "RedcapHttp", "SyncResult", "apply_plan",
    "normalise_existing", "query_id", "query_ids", "reconcile", "sync_queries",
]
