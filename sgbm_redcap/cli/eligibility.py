"""``sgbm-redcap eligibility``: the screening table, one row per patient, with the reason
when a patient fails. Exit codes: 0 ok, 1 failure, 2 usage or configuration."""

from __future__ import annotations

from pathlib import Path

import click

from sgbm_redcap import jobs
from sgbm_redcap.cli.exits import Command
from sgbm_redcap.cli.options import out_csv_option, source_options, study_from


@click.command(name="eligibility", cls=Command)
@source_options
@out_csv_option("Write the screening table to this CSV.")
@click.option("--failing", is_flag=True, help="Only patients who fail a criterion.")
def command(config_file: Path | None, url: str | None, sandbox: bool,
            records_file: Path | None, out_csv: Path | None, failing: bool) -> None:
    """Print the screening table: each inclusion/exclusion criterion per patient."""
    study = study_from(config_file, url, sandbox=sandbox, records_file=records_file)
    table = jobs.eligibility(study, failing=failing, out_csv=out_csv)
    shown = table[["record_id", "dag", "eligible_by_criteria", "eligible_recorded", "reason"]]
    click.echo(shown.to_string(index=False))
    counts = table["eligible_by_criteria"].value_counts().to_dict()
    click.echo(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
