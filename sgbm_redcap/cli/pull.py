"""``sgbm-redcap pull``: fetch the study's records (incrementally) and type them.

The token comes from ``SGBM_REDCAP_TOKEN`` (or the keyring); there is deliberately no
``--token`` option, because command lines end up in shell history and ``ps``.
Exit codes: 0 ok, 1 the pull failed, 2 usage or configuration error (incl. a rejected token).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from sgbm_redcap import jobs
from sgbm_redcap.cli.exits import Command
from sgbm_redcap.cli.options import config_option, sandbox_option, study_from, url_option


@click.command(name="pull", cls=Command)
@config_option
@url_option
@sandbox_option
@click.option("--full", is_flag=True, help="Re-pull every record instead of a sweep.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Records per export call.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the pull is cached between sweeps.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Write one Parquet file per instrument (and type_problems.csv).")
@click.option("--json", "as_json", is_flag=True, help="Print the pull's account as JSON.")
def command(config_file: Path | None, url: str | None, sandbox: bool, full: bool,
            batch_size: int | None, cache_dir: Path | None, out_dir: Path | None,
            as_json: bool) -> None:
    """Pull the study's records from REDCap into typed tables (a sweep after the first)."""
    study = study_from(config_file, url, sandbox=sandbox, batch_size=batch_size,
                       cache_dir=cache_dir)
    tables = jobs.pull(study, full=full, out_dir=out_dir)
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
