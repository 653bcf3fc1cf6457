"""The sweep job: pull → checks → reconcile → post → listings, under the lock shared with
the scheduler (``sgbm_redcap.sweep.run_sweep`` is the sweep itself)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from sgbm_redcap.errors import JobLockedError
from sgbm_redcap.jobs.connection import settings_backend
from sgbm_redcap.jobs.guards import (
    check_cutoff_after_enrolment,
    check_cutoff_not_future,
    writable_dir,
    writable_file,
)
from sgbm_redcap.jobs.study import Study
from sgbm_redcap.queries.messages import localiser
from sgbm_redcap.sweep import SweepResult, raw_tables, run_sweep

DEFAULT_AUDIT_LOG = Path("out/audit/queries.jsonl")
DEFAULT_LOCK = Path("out/.sgbm-redcap.lock")


@contextmanager
def job_lock(lock_path: Path | None) -> Iterator[None]:
    """Hold ``lock_path`` (the lock ``sgbm-redcap schedule`` shares) for the job, or raise
    :class:`JobLockedError` at once when another run holds it. ``None``: no lock (the
    scheduler already holds it)."""
    if lock_path is None:
        yield
        return
    from filelock import FileLock, Timeout

    lock = FileLock(str(writable_file(lock_path, option="--lock")))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise JobLockedError(f"another sweep holds the lock {lock_path}; wait for it to "
                             "finish (or remove the file if no sweep is running)",
                             lock_path=str(lock_path)) from None
    try:
        yield
    finally:
        lock.release()


def sweep(study: Study, *, dry_run: bool = False, backend: str = "records",
          pid: str | None = None, cutoff: date | None = None, force: bool = False,
          listings_dir: Path | None = None, audit_log: Path = DEFAULT_AUDIT_LOG,
          lock_path: Path | None = DEFAULT_LOCK, today: date | None = None,
          dashboard_dir: Path | None = None) -> SweepResult:
    """One sweep of ``study``'s REDCap (``dry_run``: post nothing). ``cutoff`` (default: the
    synthetic cohort's extract date on the sandbox, else today) is the reference date of
    time-dependent rules; one in the future or before the first enrolment is refused unless
    ``force``. With ``dashboard_dir`` the monitoring dashboard is written there after the
    posting (from a fresh pull: it shows the queries just posted)."""
    today = today or date.today()
    if cutoff is not None:
        check_cutoff_not_future(cutoff, today=today, force=force)
    if listings_dir is not None:
        writable_dir(listings_dir, option="--listings")
    if dashboard_dir is not None:
        writable_dir(dashboard_dir, option="--dashboard")
    if not dry_run:
        writable_file(audit_log, option="--audit-log")
    from sgbm_redcap.queries import AuditLog

    with job_lock(lock_path), study.connect() as conn:
        started = time.perf_counter()
        tables = raw_tables(conn.source)
        pulled = time.perf_counter() - started
        if cutoff is not None:
            check_cutoff_after_enrolment(cutoff, tables.raw, force=force)
        result = run_sweep(tables, settings_backend(conn, study.settings, backend, pid=pid),
                           audit=AuditLog(audit_log), dictionary=study.dictionary,
                           today=today, cutoff=cutoff or conn.cutoff, dry_run=dry_run,
                           listings_dir=listings_dir, localise=localiser(study.project),
                           site_language=study.project.dag_language)
        if dashboard_dir is not None:
            from sgbm_redcap.jobs.monitor import dashboard_from_source

            result.dashboard = dashboard_from_source(
                conn.source, study.project, dashboard_dir, ref=cutoff or conn.cutoff or today,
                check_result=result.checks, settings=study.settings,
                data_source=conn.description).paths
    result.timings["pull"] = pulled
    return result
