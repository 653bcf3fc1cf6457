"""``sgbm-redcap eligibility``: the screening table, one row per patient, with the reason
when a patient fails. Exit codes: 0 ok, 1 failure, 2 usage or configuration."""

from __future__ import annotations

from pathlib import Path

import click

from sgbm_redcap.errors import ConfigError, RedcapAuthError, SgbmRedcapError


@click.command(name="eligibility")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Settings file (default: ./sgbm_redcap.toml if present).")
@click.option("--url", default=None, help="REDCap API URL; none = the embedded sandbox.")
@click.option("--records", "records_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Read a flat records export (CSV/JSON) instead.")
@click.option("--out", "out_csv", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write the screening table to this CSV.")
@click.option("--failing", is_flag=True, help="Only patients who fail a criterion.")
def command(config_file: Path | None, url: str | None, records_file: Path | None,
            out_csv: Path | None, failing: bool) -> None:
    """Print the screening table: each inclusion/exclusion criterion per patient."""
    from sgbm_redcap.checks import screening_table
    from sgbm_redcap.config import load_settings
    from sgbm_redcap.sweep import connect

    try:
        settings = load_settings(config_file, redcap_url=url)
        with connect(settings, records_file=records_file) as conn:
            table = screening_table(conn.source.tables())
    except (ConfigError, RedcapAuthError) as exc:
        raise click.ClickException(str(exc)) from None
    except SgbmRedcapError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(1) from None
    if failing:
        table = table[table["eligible_by_criteria"] != "eligible"]
    if out_csv:
        table.to_csv(out_csv, index=False)
    shown = table[["record_id", "dag", "eligible_by_criteria", "eligible_recorded", "reason"]]
    click.echo(shown.to_string(index=False))
    counts = table["eligible_by_criteria"].value_counts().to_dict()
    click.echo(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
