"""``sgbm-redcap report``: the monthly interim report, the data-quality report and the
codebook, as HTML and PDF.

Where the data come from: a REDCap project when ``redcap_url`` is configured (token from
``SGBM_REDCAP_TOKEN`` or the keyring), an export file with ``--records``, otherwise the
embedded sandbox with the synthetic cohort. Exit codes: 0 ok, 1 the report failed,
2 usage or configuration error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import click

from sgbm_redcap.errors import ConfigError, RedcapAuthError, SgbmRedcapError
from sgbm_redcap.reports.monthly import previous_month_end

_source_options = [
    click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
                 default=None, help="Settings file (default: ./sgbm_redcap.toml if present)."),
    click.option("--url", default=None, help="REDCap API URL (default: from the settings)."),
    click.option("--records", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                 default=None, help="Use a flat records export (CSV/JSON) instead of REDCap."),
    click.option("--project", "project_dir", type=click.Path(file_okay=False, path_type=Path),
                 default=Path("redcap_project"), show_default=True,
                 help="The versioned REDCap project folder (dictionary, project.toml)."),
]


def source_options(fn: Any) -> Any:
    for option in reversed(_source_options):
        fn = option(fn)
    return fn


@contextmanager
def study_tables(config_file: Path | None, url: str | None, records: Path | None,
                 project: Any) -> Iterator[tuple[Any, str]]:
    """(tables, where they came from), from REDCap, a file or the embedded sandbox."""
    from sgbm_redcap.config import load_settings
    from sgbm_redcap.source import FileSource, RedcapSource

    settings = load_settings(config_file, redcap_url=url)
    if records is not None:
        yield FileSource(records, project.dictionary,
                         repeating_forms=project.repeating_forms).tables(), str(records)
    elif settings.redcap_url:
        yield RedcapSource(settings=settings).tables(), settings.redcap_url
    else:
        from sgbm_redcap.sweep import embedded_sandbox

        click.echo("No REDCap URL configured: using the embedded sandbox with the synthetic "
                   "cohort.", err=True)
        import tempfile

        with tempfile.TemporaryDirectory(prefix="sgbm-sandbox-") as tmp, \
                embedded_sandbox(tmp) as (sandbox_url, token):
            source = RedcapSource(sandbox_url, token, settings=settings, cache_dir=False,
                                  progress=False)
            yield source.tables(), f"sandbox REDCap at {sandbox_url} (synthetic cohort)"


def _write(html: str, out_dir: Path, name: str, *, pdf: bool) -> None:
    """``name``.html (and .pdf) in ``out_dir``; prints the paths."""
    from sgbm_redcap.reports.pdf import html_to_pdf

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.html"
    path.write_text(html, encoding="utf-8")
    click.echo(str(path))
    if pdf:
        click.echo(str(html_to_pdf(html, out_dir / f"{name}.pdf")))


def _fail(exc: Exception) -> None:
    click.echo(f"Error: {exc}", err=True)
    code = 2 if isinstance(exc, ConfigError | RedcapAuthError) else 1
    raise SystemExit(code)


@click.group(name="report")
def command() -> None:
    """Render reports: the monthly interim report, data quality, the codebook."""


@command.command(name="monthly")
@click.option("--cutoff", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Data cut-off date (YYYY-MM-DD): later data are ignored, times censored. "
              "Default: the last day of the previous month (what the scheduled run uses).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("out"), show_default=True, help="Folder for the HTML and PDF.")
@click.option("--no-pdf", is_flag=True, help="Write the HTML only.")
@click.option("--no-checks", is_flag=True, help="Leave the check findings out (faster).")
@source_options
def monthly(cutoff: datetime | None, out_dir: Path, no_pdf: bool, no_checks: bool,
            config_file: Path | None, url: str | None, records: Path | None,
            project_dir: Path) -> None:
    """Render the monthly interim report (HTML and PDF) for a data cut-off date."""
    from sgbm_redcap.dictionary.project import load_project
    from sgbm_redcap.reports.monthly import run_monthly_report

    cut = cutoff.date() if cutoff else previous_month_end(date.today())
    try:
        project = load_project(project_dir)
        with study_tables(config_file, url, records, project) as (tables, where):
            files = run_monthly_report(tables, cutoff=cut, out_dir=out_dir, project=project,
                                       pdf=not no_pdf, checks=not no_checks,
                                       data_source=where)
    except SgbmRedcapError as exc:
        _fail(exc)
    for path in (files.html, files.pdf):
        if path is not None:
            click.echo(str(path))


@command.command(name="quality")
@click.option("--cutoff", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Reference date of the checks (default: today).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("out"), show_default=True, help="Folder for the HTML and PDF.")
@click.option("--no-pdf", is_flag=True, help="Write the HTML only.")
@source_options
def quality(cutoff: datetime | None, out_dir: Path, no_pdf: bool, config_file: Path | None,
            url: str | None, records: Path | None, project_dir: Path) -> None:
    """Render the data-quality report: check findings, queries, completeness, type problems."""
    from sgbm_redcap.checks import run_checks
    from sgbm_redcap.dictionary.project import load_project
    from sgbm_redcap.reports.contexts import study_cover
    from sgbm_redcap.reports.env import render
    from sgbm_redcap.reports.monthly import package_versions
    from sgbm_redcap.reports.quality import build_quality_context

    cut = cutoff.date() if cutoff else date.today()
    try:
        project = load_project(project_dir)
        with study_tables(config_file, url, records, project) as (tables, where):
            findings = run_checks(tables, cutoff=cut, dictionary=project.dictionary)
            cover = study_cover("Data-quality report", cut, project=project,
                                extract_date=None, dictionary_version=project.version,
                                data_source=where, generated_at=datetime.now(timezone.utc),
                                package_versions=package_versions())
            ctx = build_quality_context(tables.raw, tables.dictionary, findings, cover=cover,
                                        dags=project.dags, type_problems=tables.type_problems,
                                        repeating_forms=project.repeating_forms)
        _write(render("data_quality.html.j2", ctx), out_dir, f"data_quality_{cut.isoformat()}",
               pdf=not no_pdf)
    except SgbmRedcapError as exc:
        _fail(exc)


@command.command(name="codebook")
@click.option("--project", "project_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("redcap_project"), show_default=True,
              help="The versioned REDCap project folder (dictionary, project.toml).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("out"), show_default=True, help="Folder for the HTML and PDF.")
@click.option("--no-pdf", is_flag=True, help="Write the HTML only.")
def codebook(project_dir: Path, out_dir: Path, no_pdf: bool) -> None:
    """Render the data dictionary as a codebook for sites (HTML and PDF)."""
    from sgbm_redcap.dictionary.project import load_project
    from sgbm_redcap.reports.codebook import render_codebook

    try:
        project = load_project(project_dir)
        html = render_codebook(project.dictionary, version=project.version,
                               repeating_forms=project.repeating_forms,
                               study_name=project.short_name)
        out_dir.mkdir(parents=True, exist_ok=True)
        _write(html, out_dir, f"codebook_{project.version}", pdf=not no_pdf)
    except SgbmRedcapError as exc:
        _fail(exc)
