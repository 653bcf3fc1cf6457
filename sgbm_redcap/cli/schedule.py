"""``sgbm-redcap schedule``: the daily sweep and the monthly report, until stopped.

One lock file (shared with ``sgbm-redcap sweep``), a missed run caught up on start, JSON log
lines, and exit code 1 with a clear log line when REDCap is unreachable after the retries.
It needs a configured REDCap URL; it never runs against the sandbox.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from sgbm_redcap import jobs
from sgbm_redcap.cli.exits import Command
from sgbm_redcap.cli.options import TimeOfDay, config_option, study_from


@click.command(name="schedule", cls=Command)
@config_option
@click.option("--sweep-at", type=TimeOfDay(), default="06:00", show_default=True,
              help="Daily sweep time.")
@click.option("--report-day", type=click.IntRange(1, 31), default=1, show_default=True,
              help="Day of the month of the monthly report (29 to 31 run on the 28th).")
@click.option("--report-at", type=TimeOfDay(), default="07:00", show_default=True,
              help="Monthly report time.")
@click.option("--state", "state_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("out/.sgbm-redcap-schedule.json"), show_default=True)
@click.option("--lock", "lock_path", type=click.Path(dir_okay=False, path_type=Path),
              default=jobs.DEFAULT_LOCK, show_default=True)
@click.option("--once", is_flag=True, help="Catch up missed runs, then exit.")
@click.option("--no-pdf", is_flag=True, help="Write the monthly report as HTML only.")
def command(config_file: Path | None, sweep_at: str, report_day: int, report_at: str,
            state_path: Path, lock_path: Path, once: bool, no_pdf: bool) -> None:
    """Run the daily sweep and the monthly report on a timetable."""
    for handler in logging.getLogger().handlers:
        handler.setFormatter(jobs.JsonFormatter())
    logging.getLogger().setLevel(min(logging.getLogger().level, logging.INFO))
    scheduler = jobs.study_scheduler(study_from(config_file), sweep_at=sweep_at,
                                     report_day=report_day, report_at=report_at,
                                     pdf=not no_pdf, state_path=state_path,
                                     lock_path=lock_path)
    if once:
        scheduler.catch_up()
    else:
        scheduler.run_forever()
