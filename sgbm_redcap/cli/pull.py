"""``sgbm-redcap pull``: fetch the study's records (incrementally) and type them.

The token comes from ``SGBM_REDCAP_TOKEN`` (or the keyring); there is deliberately no
``--token`` option, because command lines end up in shell history and ``ps``.
Exit codes: 0 ok, 1 the pull failed, 2 usage or configuration error (incl. a rejected token).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from sgbm_redcap.config import load_settings
from sgbm_redcap.errors import ConfigError, RedcapAuthError, SgbmRedcapError


@click.command(name="pull")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Settings file (default: ./sgbm_redcap.toml if present).")
@click.option("--url", default=None, help="REDCap API URL, ending in /api/.")
@click.option("--full", is_flag=True, help="Re-pull every record instead of a sweep.")
@click.option("--batch-size", type=int, default=None, help="Records per export call.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the pull is cached between sweeps.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Write one Parquet file per instrument (and type_problems.csv).")
@click.option("--json", "as_json", is_flag=True, help="Print the pull's account as JSON.")
def command(config_file: Path | None, url: str | None, full: bool, batch_size: int | None,
            cache_dir: Path | None, out_dir: Path | None, as_json: bool) -> None:
    """Pull the study's records from REDCap into typed tables (a sweep after the first)."""
    from sgbm_redcap.source import RedcapSource

    try:
        settings = load_settings(config_file, redcap_url=url, batch_size=batch_size,
                                 cache_dir=cache_dir)
        if not settings.redcap_url:
            raise ConfigError("No REDCap URL: pass --url or set redcap_url in sgbm_redcap.toml "
                              "(or SGBM_REDCAP_REDCAP_URL).", setting="redcap_url")
        tables = RedcapSource(settings=settings).tables(full=full)
    except (ConfigError, RedcapAuthError) as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from None
    except SgbmRedcapError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(1) from None
    if out_dir is not None:
        _write_tables(tables, out_dir)
    pull = tables.pull
    summary = {
        "mode": pull.mode, "reason": pull.reason, "records": pull.n_records,
        "changed": len(pull.changed_records), "deleted": len(pull.deleted_records),
        "batches": pull.batches, "requests": pull.traffic.requests,
        "retries": pull.traffic.retries, "bytes": pull.traffic.bytes_total,
        "seconds": round(pull.elapsed_s, 2), "watermark": pull.watermark,
        "tables": {form: len(table) for form, table in tables.items()},
        "type_problems": len(tables.type_problems),
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"{pull.mode} pull{f' ({pull.reason})' if pull.reason else ''}: "
               f"{pull.n_records} records, {summary['changed']} fetched, "
               f"{summary['deleted']} deleted; {pull.batches} batches, "
               f"{pull.traffic.bytes_total:,} bytes, {pull.elapsed_s:.1f} s")
    for form, n in summary["tables"].items():
        click.echo(f"  {form:<32} {n:>7} rows")
    if summary["type_problems"]:
        click.echo(f"{summary['type_problems']} values do not fit their declared type "
                   "(kept as text; see type_problems.csv with --out).")


def _write_tables(tables, out_dir: Path) -> None:  # type: ignore[no-untyped-def]
    out_dir.mkdir(parents=True, exist_ok=True)
    for form, table in tables.items():
        table.to_parquet(out_dir / f"{form}.parquet", index=False)
    tables.type_problems.to_csv(out_dir / "type_problems.csv", index=False)
