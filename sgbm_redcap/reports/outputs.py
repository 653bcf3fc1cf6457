"""The data-quality report, the per-site query listings and the codebook as files (HTML,
and PDF unless told not to), each written by :func:`sgbm_redcap.reports.pdf.write_html_pdf`
like the monthly report."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pandas as pd

from sgbm_redcap.dictionary.project import StudyProject
from sgbm_redcap.reports.contexts import Cover, study_cover
from sgbm_redcap.reports.env import render
from sgbm_redcap.reports.pdf import write_html_pdf
from sgbm_redcap.source.tables import StudyTables

#: the columns of an empty findings frame (no checks were run)
_NO_FINDINGS = ["rule_id", "severity", "record_id", "dag"]


def quality_cover(tables: StudyTables, project: StudyProject, *, cutoff: date,
                  data_source: str, extract_date: datetime | None = None) -> Cover:
    """The cover of the data-quality report and of the site listings (extract date: when
    ``tables`` were pulled, unless given)."""
    from sgbm_redcap.reports.monthly import package_versions, pulled_at

    return study_cover("Data-quality report", cutoff, project=project,
                       extract_date=extract_date or pulled_at(getattr(tables, "pull", None)),
                       dictionary_version=project.version, data_source=data_source,
                       generated_at=datetime.now(timezone.utc),
                       package_versions=package_versions())


def write_quality_report(tables: StudyTables, project: StudyProject, out_dir: Path, *,
                         cutoff: date, findings: pd.DataFrame | None, cover: Cover,
                         pdf: bool = True) -> list[Path]:
    """``data_quality_<cutoff>.html`` (and ``.pdf``) in ``out_dir``."""
    from sgbm_redcap.reports.quality import build_quality_context

    ctx = build_quality_context(tables.raw, tables.dictionary,
                                findings if findings is not None
                                else pd.DataFrame(columns=_NO_FINDINGS),
                                cover=cover, dags=project.dags,
                                type_problems=getattr(tables, "type_problems", None),
                                repeating_forms=project.repeating_forms, project=project,
                                not_yet=getattr(tables, "not_yet", None),
                                missing_reasons=getattr(tables, "missing_reasons", None))
    return write_html_pdf(render("data_quality.html.j2", ctx),
                          Path(out_dir) / f"data_quality_{cutoff.isoformat()}", pdf=pdf)


def write_site_listings(tables: StudyTables, project: StudyProject, out_dir: Path, *,
                        cutoff: date, cover: Cover, pdf: bool = True) -> list[Path]:
    """``site_queries/queries_<site>_<cutoff>.html`` (and ``.pdf``) for every site that has
    records."""
    from sgbm_redcap.reports.quality import site_labels, site_listing

    labels = site_labels(tables.raw, project.dags)
    dags = sorted(set(tables.raw.get("redcap_data_access_group", pd.Series(dtype=str))
                      .replace("", None).dropna()))
    paths: list[Path] = []
    for dag in dags:
        ctx = site_listing(tables.raw, dag, cover=cover, site_label=labels.get(dag, dag),
                           language=project.dag_language(dag), project=project)
        paths += write_html_pdf(render("site_queries.html.j2", ctx),
                                Path(out_dir) / "site_queries"
                                / f"queries_{dag}_{cutoff.isoformat()}", pdf=pdf)
    return paths


def write_codebook(project: StudyProject, out_dir: Path, *, pdf: bool = True,
                   language: str = "en") -> list[Path]:
    """``codebook_<version>.html`` (and ``.pdf``) in ``out_dir``; another ``language`` (a
    translation's id, or ``both`` for English and the translation side by side) is
    ``codebook_<version>_<language>``."""
    from sgbm_redcap.reports.codebook import render_codebook

    html = render_codebook(project.dictionary, version=project.version,
                           repeating_forms=project.repeating_forms,
                           study_name=project.short_name, language=language, project=project)
    suffix = "" if language == project.default_language else f"_{language}"
    return write_html_pdf(html, Path(out_dir) / f"codebook_{project.version}{suffix}", pdf=pdf)
