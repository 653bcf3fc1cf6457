"""The scheduled jobs: the daily sweep and the monthly report on a timetable
(:mod:`sgbm_redcap.scheduler` runs them under one lock and catches up missed runs)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sgbm_redcap.errors import ConfigError
from sgbm_redcap.jobs.reports import monthly_report
from sgbm_redcap.jobs.study import Study
from sgbm_redcap.jobs.sweep import sweep
from sgbm_redcap.scheduler import DEFAULT_LOCK, DEFAULT_STATE, Job, StudyScheduler

NO_URL_HELP = ("The scheduler needs a REDCap URL (redcap_url in sgbm_redcap.toml or "
               "SGBM_REDCAP_REDCAP_URL); it never runs against the sandbox.")


def scheduled_sweep(study: Study, *, today: date | None = None) -> None:
    """The daily sweep: what ``sgbm-redcap sweep`` does, with the audit log and listings in
    the settings' ``report_dir`` (the scheduler holds the lock)."""
    out = Path(study.settings.report_dir)
    sweep(study, today=today or date.today(), audit_log=out / "audit" / "queries.jsonl",
          listings_dir=out / "listings", lock_path=None)


def scheduled_monthly_report(study: Study, *, pdf: bool = True,
                             today: date | None = None) -> None:
    """The monthly job: what ``sgbm-redcap report monthly --out <report_dir>`` does
    (cut-off = the end of the previous month)."""
    import logging

    files = monthly_report(study, out_dir=Path(study.settings.report_dir), pdf=pdf,
                           today=today)
    logging.getLogger(__name__).info(
        "monthly report written to %s", files.html,
        extra={"event": "report_written", "job": "monthly_report"})


def study_scheduler(study: Study, *, sweep_at: str = "06:00", report_day: int = 1,
                    report_at: str = "07:00", pdf: bool = True,
                    state_path: Path = DEFAULT_STATE,
                    lock_path: Path = DEFAULT_LOCK) -> StudyScheduler:
    """The study's timetable, checked now rather than at 06:00: a REDCap URL and a token
    must be configured, the times must be times of day and the day a day of the month."""
    if not study.settings.redcap_url:
        raise ConfigError(NO_URL_HELP, setting="redcap_url")
    study.settings.token()
    jobs = [Job("sweep", lambda: scheduled_sweep(study), "daily", sweep_at),
            Job("monthly_report", lambda: scheduled_monthly_report(study, pdf=pdf),
                "monthly", report_at, report_day)]
    return StudyScheduler(jobs, lock_path=lock_path, state_path=state_path)
