"""``sgbm-redcap sweep``: one query sweep (pull → checks → reconcile → post → listings).

It needs a configured REDCap URL, or ``--sandbox`` for the embedded sandbox with the
synthetic cohort. Exit codes: 0 ok, 1 failure (REDCap unreachable after the retries, another
run holds the lock, a rule failed to run), 2 usage or configuration error.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from sgbm_redcap import jobs
from sgbm_redcap.cli.exits import Command
from sgbm_redcap.cli.options import (
    config_option,
    cutoff_option,
    day,
    force_option,
    sandbox_option,
    study_from,
    url_option,
)


@click.command(name="sweep", cls=Command)
@config_option
@url_option
@sandbox_option
@click.option("--dry-run", is_flag=True, help="Show what would be posted; post nothing.")
@click.option("--backend", type=click.Choice(["records", "data_quality_api"]),
              default="records", show_default=True,
              help="data_queries instrument, or the Data Resolution Workflow module.")
@click.option("--pid", default=None, help="Project id (data_quality_api backend).")
@cutoff_option("Reference date of time-dependent rules (default today).")
@force_option
@click.option("--listings", "listings_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Write per-site query listings (CSV + HTML) here.")
@click.option("--dashboard", "dashboard_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Also write the monitoring dashboard (monitoring_<date>.html "
              "+ PDF) here.")
@click.option("--audit-log", type=click.Path(dir_okay=False, path_type=Path),
              default=jobs.DEFAULT_AUDIT_LOG, show_default=True)
@click.option("--lock", "lock_path", type=click.Path(dir_okay=False, path_type=Path),
              default=jobs.DEFAULT_LOCK, show_default=True,
              help="Lock file shared with 'sgbm-redcap schedule'.")
def command(config_file: Path | None, url: str | None, sandbox: bool, dry_run: bool,
            backend: str, pid: str | None, cutoff: datetime | None, force: bool,
            listings_dir: Path | None, dashboard_dir: Path | None, audit_log: Path,
            lock_path: Path) -> None:
    """Run one sweep and post the data queries (or show them with --dry-run)."""
    study = study_from(config_file, url, sandbox=sandbox)
    result = jobs.sweep(study, dry_run=dry_run, backend=backend, pid=pid, cutoff=day(cutoff),
                        force=force, listings_dir=listings_dir, audit_log=audit_log,
                        lock_path=lock_path, dashboard_dir=dashboard_dir)
    if dry_run:
        for a in result.plan.actions.itertuples(index=False):
            click.echo(f"would {a.action:<6} {a.query_id}  ({a.why})")
    click.echo(result.summary())
    for path in result.dashboard:
        click.echo(f"wrote {path}")
    if result.failed_rules:
        click.echo(f"rules that failed (their queries left as they are): "
                   f"{', '.join(result.failed_rules)}", err=True)
        raise SystemExit(1)
