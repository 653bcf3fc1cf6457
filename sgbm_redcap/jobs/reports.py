"""The report jobs: the monthly interim report, the data-quality report, the per-site query
listings and the codebook, each from the study's records into an output folder."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from sgbm_redcap.errors import ConfigError
from sgbm_redcap.jobs.guards import (
    check_cutoff_after_enrolment,
    check_cutoff_not_future,
    writable_dir,
)
from sgbm_redcap.jobs.study import Study
from sgbm_redcap.reports.monthly import ReportFiles, previous_month_end, run_monthly_report
from sgbm_redcap.source.asof import as_of, in_scope
from sgbm_redcap.source.tables import StudyTables

__all__ = ["codebook", "monthly_report", "previous_month_end", "quality_report",
           "site_listings"]


@contextmanager
def _tables_at(study: Study, cutoff: date | None, *, force: bool,
               out_dir: Path) -> Iterator[tuple[StudyTables, str]]:
    """(tables, where they came from), after the door checks: the output folder can be
    written, the cut-off is neither in the future nor before the first enrolment."""
    if cutoff is not None:
        check_cutoff_not_future(cutoff, force=force)
    writable_dir(out_dir)
    with study.connect() as conn:
        tables = conn.source.tables()
        if cutoff is not None:
            check_cutoff_after_enrolment(cutoff, tables.raw, force=force)
        yield tables, conn.description


def monthly_report(study: Study, *, out_dir: Path, cutoff: date | None = None,
                   pdf: bool = True, checks: bool = True, force: bool = False,
                   today: date | None = None, cut: Path | str | None = None,
                   replace: bool = False, cuts_dir: Path | str | None = None) -> ReportFiles:
    """The monthly interim report, always rendered from a data cut.

    With ``cut`` (a cut folder) the report is rendered from it alone: nothing is read from
    REDCap, and the same cut with the same toolkit gives the same bytes. Without it the cut
    for ``cutoff`` (default: the end of the month before ``today``, what the scheduled run
    uses) is made first, in ``cuts_dir`` (default ``<out_dir>/cuts/``) as ``<cutoff>/``
    (an existing one is refused unless ``replace``), then rendered. The check findings are
    included unless ``checks`` is False."""
    from sgbm_redcap.jobs.cuts import create_cut, open_cut, previous_of

    if cut is not None:
        made = open_cut(cut)
        if cutoff is not None and cutoff != made.cutoff:
            raise ConfigError(f"--cutoff {cutoff} is not the cut-off of the cut {made.path} "
                              f"({made.cutoff}); leave --cutoff out with --cut",
                              setting="cutoff")
        writable_dir(out_dir)
    else:
        cut_date = cutoff or previous_month_end(today or date.today())
        writable_dir(out_dir)
        made = create_cut(study, cutoff=cut_date, replace=replace, force=force,
                          cuts_dir=cuts_dir or Path(out_dir) / "cuts")
    return run_monthly_report(made.tables(), cutoff=made.cutoff, out_dir=out_dir,
                              project=study.project, pdf=pdf, checks=checks,
                              data_source=made.description, cut=made,
                              previous_cut=previous_of(made), generated_at=made.created_at,
                              extract_date=made.pulled_at)


def quality_report(study: Study, *, out_dir: Path, cutoff: date | None = None,
                   pdf: bool = True, force: bool = False) -> list[Path]:
    """The data-quality report (check findings, queries, completeness, type problems) at
    ``cutoff`` (default today)."""
    from sgbm_redcap.checks import run_checks
    from sgbm_redcap.reports.outputs import quality_cover, write_quality_report

    cut = cutoff or date.today()
    with _tables_at(study, cutoff, force=force, out_dir=out_dir) as (pulled, where):
        tables = as_of(pulled, cut)  # what was known at the cut-off
        result = run_checks(tables, cutoff=cut, dictionary=study.dictionary)
        return write_quality_report(tables, study.project, out_dir, cutoff=cut,
                                    findings=in_scope(result.findings, tables), pdf=pdf,
                                    cover=quality_cover(tables, study.project, cutoff=cut,
                                                        data_source=where))


def site_listings(study: Study, *, out_dir: Path, cutoff: date | None = None,
                  pdf: bool = True, force: bool = False) -> list[Path]:
    """Each site's data-query listing (open, reopened and answered queries) as of
    ``cutoff`` (default today), into ``out_dir/site_queries/``: at a cut-off, the queries as
    they stood then (:func:`~sgbm_redcap.source.asof.as_of`: raised later left out, answered
    or closed later still open)."""
    from sgbm_redcap.reports.outputs import quality_cover, write_site_listings

    cut = cutoff or date.today()
    with _tables_at(study, cutoff, force=force, out_dir=out_dir) as (pulled, where):
        tables = as_of(pulled, cutoff)  # the queries as they stood at the cut-off
        return write_site_listings(tables, study.project, out_dir, cutoff=cut, pdf=pdf,
                                   cover=quality_cover(tables, study.project, cutoff=cut,
                                                       data_source=where))


def codebook(study: Study, *, out_dir: Path, pdf: bool = True,
             language: str | None = None) -> list[Path]:
    """The data dictionary as a codebook for sites, in ``language`` (default: the CRF's; a
    translation's id such as ``zh-CN``; ``both``: side by side). An unknown language is a
    ConfigError naming the ones there are."""
    from sgbm_redcap.errors import ConfigError
    from sgbm_redcap.reports.codebook import BOTH
    from sgbm_redcap.reports.outputs import write_codebook

    project = study.project
    known = [project.default_language, *(lf.id for lf in project.languages), BOTH]
    chosen = language or project.default_language
    if chosen not in known:
        raise ConfigError(f"no codebook language {chosen!r}: use one of {', '.join(known)}",
                          setting="--language", source="command line")
    return write_codebook(project, writable_dir(out_dir), pdf=pdf, language=chosen)
