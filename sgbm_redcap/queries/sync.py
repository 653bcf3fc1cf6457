"""One reconciliation round: read the queries REDCap holds, plan, audit, post."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from sgbm_redcap.queries.audit import AuditLog, entry
from sgbm_redcap.queries.backends import QueryBackend
from sgbm_redcap.queries.reconcile import Plan, reconcile

log = logging.getLogger(__name__)

#: Actions per request.
BATCH_SIZE = 500


@dataclass
class SyncResult:
    plan: Plan
    sent: int = 0
    dry_run: bool = False
    counts: dict[str, int] = field(default_factory=dict)


def sync_queries(
    findings: pd.DataFrame,
    backend: QueryBackend,
    *,
    today: date | str,
    audit: AuditLog | None,
    sweep_id: str = "",
    dry_run: bool = False,
    rules_run: Iterable[str] | None = None,
    existing: pd.DataFrame | None = None,
    batch_size: int = BATCH_SIZE,
) -> SyncResult:
    """Bring the backend's queries in line with ``findings``.

    Each batch is written to the audit log before it is sent. A batch that fails after its
    retries raises (``RedcapConnectionError``; ``RedcapApiError`` for an HTTP 5xx that persists,
    as for a pull); what was sent before stays sent, and the next
    sweep plans from what REDCap then holds, so nothing is duplicated or lost.
    """
    current = backend.existing() if existing is None else existing
    plan = reconcile(findings, current, today=today, rules_run=rules_run)
    result = SyncResult(plan=plan, dry_run=dry_run, counts=plan.counts())
    log.info("sweep %s: %d to open, %d to close, %d to reopen, %d unchanged%s", sweep_id,
             result.counts["open"], result.counts["close"], result.counts["reopen"],
             plan.unchanged, " (dry run)" if dry_run else "")
    if dry_run or not len(plan):
        return result
    actions: list[dict[str, Any]] = plan.actions.to_dict("records")
    for start in range(0, len(actions), batch_size):
        batch = actions[start:start + batch_size]
        if audit is not None:
            audit.append(entry(sweep=sweep_id, backend=backend.name, action=a["action"],
                               query_id=a["query_id"], record_id=a["record_id"],
                               instance=a["instance"], why=a["why"],
                               values=backend.payload(a) if hasattr(backend, "payload")
                               else a["row"])
                         for a in batch)
        result.sent += backend.send(batch)
    return result
