"""``sgbm-redcap sweep``: one query sweep (pull → checks → reconcile → post → listings).

Without a REDCap URL the sweep runs against the embedded sandbox and its synthetic cohort.
Exit codes: 0 ok, 1 failure (REDCap unreachable after the retries, another run holds the
lock), 2 usage or configuration error.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from sgbm_redcap.errors import ConfigError, RedcapAuthError, SgbmRedcapError


@click.command(name="sweep")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Settings file (default: ./sgbm_redcap.toml if present).")
@click.option("--url", default=None, help="REDCap API URL; none = the embedded sandbox.")
@click.option("--dry-run", is_flag=True, help="Show what would be posted; post nothing.")
@click.option("--backend", type=click.Choice(["records", "data_quality_api"]),
              default="records", show_default=True,
              help="data_queries instrument, or the Data Resolution Workflow module.")
@click.option("--pid", default=None, help="Project id (data_quality_api backend).")
@click.option("--cutoff", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Reference date of time-dependent rules (default today).")
@click.option("--listings", "listings_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Write per-site query listings (CSV + HTML) here.")
@click.option("--audit-log", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("out/audit/queries.jsonl"), show_default=True)
@click.option("--lock", "lock_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("out/.sgbm-redcap.lock"), show_default=True,
              help="Lock file shared with 'sgbm-redcap schedule'.")
def command(config_file: Path | None, url: str | None, dry_run: bool, backend: str,
            pid: str | None, cutoff, listings_dir: Path | None, audit_log: Path,
            lock_path: Path) -> None:
    """Run one sweep and post the data queries (or show them with --dry-run)."""
    from filelock import FileLock, Timeout

    from sgbm_redcap.config import load_settings
    from sgbm_redcap.queries import AuditLog
    from sgbm_redcap.sweep import connect, make_backend, run_sweep, study_dictionary

    lock_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        settings = load_settings(config_file, redcap_url=url)
        with FileLock(str(lock_path)).acquire(timeout=0), connect(settings) as conn:
            result = run_sweep(
                conn.source,
                make_backend(backend, conn.url, conn.token, timeout_s=settings.timeout_s,
                             retries=settings.retries, backoff_s=settings.backoff_s, pid=pid),
                audit=AuditLog(audit_log), dictionary=study_dictionary(settings.dictionary_path),
                today=date.today(), cutoff=cutoff.date() if cutoff else conn.cutoff, dry_run=dry_run,
                listings_dir=listings_dir)
    except Timeout:
        click.echo(f"Error: another sweep holds the lock {lock_path}", err=True)
        raise SystemExit(1) from None
    except (ConfigError, RedcapAuthError) as exc:
        raise click.ClickException(str(exc)) from None
    except SgbmRedcapError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(1) from None
    if dry_run:
        for a in result.plan.actions.itertuples(index=False):
            click.echo(f"would {a.action:<6} {a.query_id}  ({a.why})")
    click.echo(result.summary())
    if result.failed_rules:
        click.echo(f"rules that failed (their queries left as they are): "
                   f"{', '.join(result.failed_rules)}", err=True)
        raise SystemExit(1)
