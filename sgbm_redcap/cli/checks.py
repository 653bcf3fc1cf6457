"""``sgbm-redcap checks``: the rule catalogue, one check run without posting queries, and
REDCap's own Data Quality rules (``redcap-dq``).

Exit codes: 0 ok (``run``/``redcap-dq``: no finding), 1 findings or failures, 2 usage or
configuration.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from sgbm_redcap import jobs
from sgbm_redcap.cli.exits import Group
from sgbm_redcap.cli.options import (
    cutoff_option,
    day,
    dq_options,
    force_option,
    out_csv_option,
    source_options,
    study_from,
)


@click.group(name="checks", cls=Group)
def command() -> None:
    """The data checks: list the rules, or run them."""


@command.command(name="list")
@click.option("--markdown", is_flag=True, help="Print the catalogue as Markdown (docs/checks.md).")
@click.option("--category", default=None, help="Only this category (dictionary, dates, ...).")
def list_rules(markdown: bool, category: str | None) -> None:
    """List every rule: id, severity, target and title."""
    if markdown:
        click.echo(jobs.rule_catalogue_markdown(category), nl=False)
        return
    for r in jobs.rule_catalogue(category):
        click.echo(f"{r.rule_id:<8} {r.severity:<8} {r.category:<12} {r.target:<48} {r.title}")


@command.command(name="run")
@source_options
@cutoff_option("Data cut-off (default today).")
@force_option
@out_csv_option("Write the findings to this CSV.")
def run(config_file: Path | None, url: str | None, sandbox: bool, records_file: Path | None,
        cutoff: datetime | None, force: bool, out_csv: Path | None) -> None:
    """Run every rule and print the findings (nothing is posted to REDCap)."""
    study = study_from(config_file, url, sandbox=sandbox, records_file=records_file)
    findings = jobs.checks(study, cutoff=day(cutoff), force=force, out_csv=out_csv).findings
    for f in findings.itertuples(index=False):
        where = f"{f.form}#{f.instance}" if f.instance else f.form
        click.echo(f"{f.rule_id:<8} {f.record_id:>8} {where}.{f.field}: {f.message}")
    click.echo(f"{len(findings)} findings")
    if len(findings):
        raise SystemExit(1)


@command.command(name="redcap-dq")
@source_options
@dq_options
def redcap_dq(config_file: Path | None, url: str | None, sandbox: bool,
              records_file: Path | None, rules: tuple[str, ...], rules_file: Path | None,
              exclusions: Path | None, user: str | None, out_csv: Path | None,
              out_json: Path | None) -> None:
    """REDCap's Data Quality rules A-I (and custom rules) as REDCap counts them, over every
    event, arm and instance: the table of REDCap's Data Quality page."""
    study = study_from(config_file, url, sandbox=sandbox, records_file=records_file)
    result = jobs.redcap_dq(study, rules=rules, rules_file=rules_file, exclusions=exclusions,
                            user=user, out_csv=out_csv, out_json=out_json)
    click.echo(jobs.dq_summary_text(result), nl=False)
    if result.found_any:
        raise SystemExit(1)
