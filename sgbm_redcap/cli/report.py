"""``sgbm-redcap report``: the monthly interim report, the data-quality report, the per-site
query listings and the codebook, as HTML and PDF.

Where the data come from: the configured REDCap (token from ``SGBM_REDCAP_TOKEN`` or the
keyring), an export file with ``--records``, or ``--sandbox`` for the embedded sandbox with
the synthetic cohort. Exit codes: 0 ok, 1 the report failed, 2 usage or configuration error.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from sgbm_redcap import jobs
from sgbm_redcap.cli.exits import Group
from sgbm_redcap.cli.options import (
    config_option,
    cutoff_option,
    day,
    force_option,
    no_pdf_option,
    out_dir_option,
    project_option,
    source_options,
    study_from,
)

OUT_HELP = "Folder for the HTML and PDF."


def _echo(paths: list[Path]) -> None:
    for path in paths:
        click.echo(str(path))


@click.group(name="report", cls=Group)
def command() -> None:
    """Render reports: the monthly interim report, data quality, site listings, codebook."""


@command.command(name="monthly")
@cutoff_option("Data cut-off date (YYYY-MM-DD): later data are ignored, times censored. "
               "Default: the last day of the previous month (what the scheduled run uses).")
@force_option
@out_dir_option(help=OUT_HELP)
@no_pdf_option
@click.option("--no-checks", is_flag=True, help="Leave the check findings out (faster).")
@click.option("--cut", "cut_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Render from this data cut alone (no REDCap access); "
              "without it the cut for --cutoff is made first, in <out>/cuts/<cutoff>/.")
@click.option("--replace", is_flag=True, help="Make the cut again if it exists already.")
@source_options
@project_option
def monthly(cutoff: datetime | None, force: bool, out_dir: Path, no_pdf: bool,
            no_checks: bool, cut_dir: Path | None, replace: bool, config_file: Path | None,
            url: str | None, sandbox: bool, records_file: Path | None,
            project_dir: Path | None) -> None:
    """Render the monthly interim report (HTML and PDF) from a data cut (made first for
    the cut-off date unless --cut names one)."""
    study = study_from(config_file, url, sandbox=sandbox, records_file=records_file,
                       project_dir=project_dir)
    files = jobs.monthly_report(study, out_dir=out_dir, cutoff=day(cutoff), pdf=not no_pdf,
                                checks=not no_checks, force=force, cut=cut_dir,
                                replace=replace)
    _echo([p for p in (files.html, files.pdf) if p is not None])


@command.command(name="quality")
@cutoff_option("Reference date of the checks (default: today).")
@force_option
@out_dir_option(help=OUT_HELP)
@no_pdf_option
@source_options
@project_option
def quality(cutoff: datetime | None, force: bool, out_dir: Path, no_pdf: bool,
            config_file: Path | None, url: str | None, sandbox: bool,
            records_file: Path | None, project_dir: Path | None) -> None:
    """Render the data-quality report: check findings, queries, completeness, type problems."""
    study = study_from(config_file, url, sandbox=sandbox, records_file=records_file,
                       project_dir=project_dir)
    _echo(jobs.quality_report(study, out_dir=out_dir, cutoff=day(cutoff), pdf=not no_pdf,
                              force=force))


@command.command(name="listings")
@cutoff_option("The listings' as-of date (default: today).")
@force_option
@out_dir_option(help="Folder; the listings go to its site_queries/.")
@no_pdf_option
@source_options
@project_option
def listings(cutoff: datetime | None, force: bool, out_dir: Path, no_pdf: bool,
             config_file: Path | None, url: str | None, sandbox: bool,
             records_file: Path | None, project_dir: Path | None) -> None:
    """Render each site's data-query listing (open, reopened and answered queries)."""
    study = study_from(config_file, url, sandbox=sandbox, records_file=records_file,
                       project_dir=project_dir)
    _echo(jobs.site_listings(study, out_dir=out_dir, cutoff=day(cutoff), pdf=not no_pdf,
                             force=force))


@command.command(name="codebook")
@config_option
@project_option
@out_dir_option(help=OUT_HELP)
@no_pdf_option
@click.option("--language", default=None, metavar="LANG",
              help="en (default), a translation of the CRF (zh-CN), or both (side by side).")
def codebook(config_file: Path | None, project_dir: Path | None, out_dir: Path,
             no_pdf: bool, language: str | None) -> None:
    """Render the data dictionary as a codebook for sites (HTML and PDF)."""
    _echo(jobs.codebook(study_from(config_file, project_dir=project_dir), out_dir=out_dir,
                        pdf=not no_pdf, language=language))
