"""The monitoring job (issue 17): pull, the check findings, the project log, the key risk
indicators, their tolerance limits and the audit-trail review, laid out as the dashboard
``monitoring_<date>.html`` (+ PDF). The same call serves ``sgbm-redcap monitor``, the sweep
(``sweep --dashboard``) and the demo.

Without the Logging right the log is None: the indicators that need it and the audit-trail
review are named as not computed (one line each on the page and in :attr:`MonitorFiles.
not_computed`), the rest are computed.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sgbm_redcap.checks import CheckResult
from sgbm_redcap.dictionary.project import StudyProject
from sgbm_redcap.errors import RedcapApiError, RedcapConnectionError
from sgbm_redcap.jobs.guards import check_cutoff_not_future, writable_dir
from sgbm_redcap.jobs.study import Study

log = logging.getLogger(__name__)
TITLE = "Central monitoring"


@dataclass
class MonitorFiles:
    """The files written, the red (site, indicator) pairs and what was not computed."""

    paths: list[Path]
    red: set[tuple[str, str]] = field(default_factory=set)
    not_computed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: the audit-trail findings (None: no log)
    findings: list[Any] | None = None


def _user_dags(source: Any) -> dict[str, str] | None:
    """username → DAG from REDCap's user export, or None when it is refused."""
    try:
        users = source.client.post("export_users", {"content": "user"}, idempotent=True)
    except (RedcapApiError, AttributeError) as exc:
        if isinstance(exc, RedcapConnectionError):
            raise
        return None
    return {str(u.get("username", "")): str(u.get("data_access_group", "") or "")
            for u in users if isinstance(u, dict)} if isinstance(users, list) else None


def dashboard_from_source(source: Any, project: StudyProject, out_dir: Path | str, *,
                          ref: date, pdf: bool = True, data_source: str = "",
                          settings: Any = None, check_result: CheckResult | None = None,
                          cutoffs: tuple[date, ...] = ()) -> MonitorFiles:
    """Everything from one REDCap source (a ``RedcapSource``) into ``out_dir``."""
    import time

    from sgbm_redcap.checks import run_checks
    from sgbm_redcap.monitoring import study_sites
    from sgbm_redcap.monitoring.audit import audit_review
    from sgbm_redcap.monitoring.kris import compute_kris
    from sgbm_redcap.monitoring.limits import assess, tolerance_limits
    from sgbm_redcap.monitoring.log import log_frame
    from sgbm_redcap.queries.reconcile import normalise_existing
    from sgbm_redcap.reports.dashboard import build_dashboard, write_dashboard

    started = time.perf_counter()
    limits = tolerance_limits(getattr(settings, "monitoring", None) or {})  # before any work
    tables = source.tables()
    raw = tables.raw
    if check_result is None:
        check_result = run_checks(tables, cutoff=ref, dictionary=project.dictionary)
    rows = source.project_log() if hasattr(source, "project_log") else None
    the_log = log_frame(rows) if rows is not None else None
    sites = study_sites(raw, project.dags)
    queries = normalise_existing(raw)
    result = compute_kris(raw, queries, sites, ref=ref, log=the_log,
                          findings=check_result.findings)
    assessment = assess(result, limits)
    findings = None if the_log is None else audit_review(
        the_log, sites, queries=queries, cutoffs=cutoffs, user_dags=_user_dags(source))
    page = build_dashboard(result, assessment, queries, findings=findings,
                           title=f"{TITLE} — {project.short_name or project.title}",
                           data_source=data_source)
    paths = write_dashboard(page, out_dir, pdf=pdf)
    return MonitorFiles(paths, assessment.red(), page.not_computed + (
        [page.audit_note] if page.audit_note else []), time.perf_counter() - started,
        findings)


def monitor(study: Study, *, out_dir: Path | str, ref: date | None = None,
            pdf: bool = True, force: bool = False, today: date | None = None) -> MonitorFiles:
    """The dashboard of ``study``'s REDCap at ``ref`` (default today; on the sandbox the
    synthetic monitoring world's reference date). ``--sandbox`` with no REDCap configured
    seeds the synthetic monitoring world (:mod:`sgbm_redcap.synthetic.monitoring`)."""
    if ref is not None:
        check_cutoff_not_future(ref, today=today, force=force)
    out = writable_dir(out_dir)
    if study.sandbox and not study.settings.redcap_url and study.records_file is None:
        return _sandbox_dashboard(study, out, ref=ref, pdf=pdf)
    with study.connect() as conn:
        day = ref or conn.cutoff or today or date.today()
        return dashboard_from_source(conn.source, study.project, out, ref=day, pdf=pdf,
                                     data_source=conn.description, settings=study.settings)


def _sandbox_dashboard(study: Study, out: Path, *, ref: date | None,
                       pdf: bool) -> MonitorFiles:
    from sgbm_redcap.config import Settings
    from sgbm_redcap.jobs.connection import SANDBOX_BANNER
    from sgbm_redcap.sandbox import Sandbox, serve_in_thread
    from sgbm_redcap.source import RedcapSource
    from sgbm_redcap.synthetic.monitoring import seed_monitoring

    study.notice(SANDBOX_BANNER)
    with tempfile.TemporaryDirectory(prefix="sgbm-sandbox-") as tmp:
        sandbox = Sandbox(tmp)
        world = seed_monitoring(sandbox)
        with serve_in_thread(sandbox, port=0) as url:
            source = RedcapSource(url, world.token, cache_dir=False, progress=False,
                                  settings=Settings(redcap_url=url))
            return dashboard_from_source(
                source, study.project, out, ref=ref or world.ref, pdf=pdf,
                settings=study.settings,
                data_source=f"sandbox REDCap at {url} (synthetic monitoring data)")


__all__ = ["MonitorFiles", "dashboard_from_source", "monitor"]
