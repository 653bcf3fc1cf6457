"""``sgbm-redcap schedule``: the daily sweep and the monthly report, until stopped.

One lock file (shared with ``sgbm-redcap sweep``), a missed run caught up on start, JSON log
lines, and exit code 1 with a clear log line when REDCap is unreachable after the retries.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import click

from sgbm_redcap.errors import ConfigError, RedcapAuthError, SgbmRedcapError

log = logging.getLogger(__name__)


@click.command(name="schedule")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Settings file (default: ./sgbm_redcap.toml if present).")
@click.option("--sweep-at", default="06:00", show_default=True, help="Daily sweep time.")
@click.option("--report-day", default=1, show_default=True, help="Day of the monthly report.")
@click.option("--report-at", default="07:00", show_default=True, help="Monthly report time.")
@click.option("--state", "state_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("out/.sgbm-redcap-schedule.json"), show_default=True)
@click.option("--lock", "lock_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("out/.sgbm-redcap.lock"), show_default=True)
@click.option("--once", is_flag=True, help="Catch up missed runs, then exit.")
@click.option("--no-pdf", is_flag=True, help="Write the monthly report as HTML only.")
def command(config_file: Path | None, sweep_at: str, report_day: int, report_at: str,
            state_path: Path, lock_path: Path, once: bool, no_pdf: bool) -> None:
    """Run the daily sweep and the monthly report on a timetable."""
    from sgbm_redcap.config import load_settings
    from sgbm_redcap.scheduler import Job, JsonFormatter, SchedulerStopped, StudyScheduler

    for handler in logging.getLogger().handlers:
        handler.setFormatter(JsonFormatter())
    logging.getLogger().setLevel(min(logging.getLogger().level, logging.INFO))
    try:
        settings = load_settings(config_file)
        if not settings.redcap_url:
            raise ConfigError("The scheduler needs a REDCap URL (redcap_url in "
                              "sgbm_redcap.toml or SGBM_REDCAP_REDCAP_URL).",
                              setting="redcap_url")
        settings.token()  # fail now, not at 06:00
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    scheduler = StudyScheduler(
        [Job("sweep", lambda: _sweep(settings), "daily", sweep_at),
         Job("monthly_report", lambda: _monthly_report(settings, pdf=not no_pdf), "monthly",
             report_at, report_day)],
        lock_path=lock_path, state_path=state_path)
    try:
        if once:
            scheduler.catch_up()
        else:
            scheduler.run_forever()
    except SchedulerStopped as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(exc.exit_code) from None
    except (RedcapAuthError, SgbmRedcapError) as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(1) from None


def _sweep(settings) -> None:  # type: ignore[no-untyped-def]
    from sgbm_redcap.queries import AuditLog
    from sgbm_redcap.sweep import connect, make_backend, run_sweep, study_dictionary

    with connect(settings) as conn:
        run_sweep(conn.source, make_backend("records", conn.url, conn.token,
                                            timeout_s=settings.timeout_s,
                                            retries=settings.retries,
                                            backoff_s=settings.backoff_s),
                  audit=AuditLog(Path(settings.report_dir) / "audit" / "queries.jsonl"),
                  dictionary=study_dictionary(settings.dictionary_path), today=date.today(),
                  listings_dir=Path(settings.report_dir) / "listings")


def _monthly_report(settings, *, pdf: bool = True,  # type: ignore[no-untyped-def]
                    today: date | None = None) -> None:
    """The monthly report job: what ``sgbm-redcap report monthly --out <report_dir>`` does
    (cut-off = the end of the previous month), against the configured REDCap, with the
    project folder the settings' dictionary lives in."""
    from sgbm_redcap.dictionary.project import load_project
    from sgbm_redcap.reports.monthly import previous_month_end, run_monthly_report
    from sgbm_redcap.source import RedcapSource

    project = load_project(Path(settings.dictionary_path).parent)
    tables = RedcapSource(settings=settings, progress=False).tables()
    files = run_monthly_report(tables, cutoff=previous_month_end(today or date.today()),
                               out_dir=Path(settings.report_dir), project=project, pdf=pdf,
                               data_source=settings.redcap_url)
    log.info("monthly report written to %s", files.html,
             extra={"event": "report_written", "job": "monthly_report"})
