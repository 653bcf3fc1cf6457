"""``sgbm-redcap checks``: the rule catalogue, and one check run without posting queries.

Exit codes: 0 ok (``run``: no finding), 1 findings or failures, 2 usage or configuration.
"""

from __future__ import annotations

from pathlib import Path

import click

from sgbm_redcap.checks import REGISTRY, render_markdown
from sgbm_redcap.errors import ConfigError, RedcapAuthError, SgbmRedcapError


@click.group(name="checks")
def command() -> None:
    """The data checks: list the rules, or run them."""


@command.command(name="list")
@click.option("--markdown", is_flag=True, help="Print the catalogue as Markdown (docs/checks.md).")
@click.option("--category", default=None, help="Only this category (dictionary, dates, ...).")
def list_rules(markdown: bool, category: str | None) -> None:
    """List every rule: id, severity, target and title."""
    rules = REGISTRY.select(categories=[category] if category else None)
    if markdown:
        click.echo(render_markdown(rules), nl=False)
        return
    for r in rules:
        click.echo(f"{r.rule_id:<8} {r.severity:<8} {r.category:<12} {r.target:<48} {r.title}")


@command.command(name="run")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Settings file (default: ./sgbm_redcap.toml if present).")
@click.option("--url", default=None, help="REDCap API URL; none = the embedded sandbox.")
@click.option("--records", "records_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Check a flat records export (CSV/JSON) instead.")
@click.option("--cutoff", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Data cut-off (default today).")
@click.option("--out", "out_csv", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write the findings to this CSV.")
def run(config_file: Path | None, url: str | None, records_file: Path | None, cutoff,
        out_csv: Path | None) -> None:
    """Run every rule and print the findings (nothing is posted to REDCap)."""
    from sgbm_redcap.checks import run_checks
    from sgbm_redcap.config import load_settings
    from sgbm_redcap.sweep import connect, study_dictionary

    try:
        settings = load_settings(config_file, redcap_url=url)
        with connect(settings, records_file=records_file) as conn:
            findings = run_checks(conn.source.tables(), dictionary=study_dictionary(
                settings.dictionary_path), cutoff=cutoff.date() if cutoff else conn.cutoff)
    except (ConfigError, RedcapAuthError) as exc:
        raise click.ClickException(str(exc)) from None
    except SgbmRedcapError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(1) from None
    if out_csv:
        findings.to_csv(out_csv, index=False)
    for f in findings.itertuples(index=False):
        where = f"{f.form}#{f.instance}" if f.instance else f.form
        click.echo(f"{f.rule_id:<8} {f.record_id:>8} {where}.{f.field}: {f.message}")
    click.echo(f"{len(findings)} findings")
    if len(findings):
        raise SystemExit(1)
