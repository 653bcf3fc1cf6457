"""The check jobs: the rule catalogue, one check run without posting queries, and the
eligibility screening table."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from sgbm_redcap.checks import REGISTRY, CheckResult, Rule, render_markdown, run_checks
from sgbm_redcap.jobs.guards import (
    check_cutoff_after_enrolment,
    check_cutoff_not_future,
    writable_file,
)
from sgbm_redcap.jobs.study import Study


def rule_catalogue(category: str | None = None) -> list[Rule]:
    """Every declared rule (of one ``category``), in catalogue order."""
    return list(REGISTRY.select(categories=[category] if category else None))


def rule_catalogue_markdown(category: str | None = None) -> str:
    """The catalogue as Markdown (what docs/checks.md holds; one category: its rules only)."""
    return render_markdown(rule_catalogue(category), appendix="" if category else None)


def checks(study: Study, *, cutoff: date | None = None, force: bool = False,
           out_csv: Path | None = None) -> CheckResult:
    """Every rule over the study's records; nothing is posted. ``cutoff`` (default: the
    synthetic cohort's extract date on the sandbox, else today) in the future or before the
    first enrolment is refused unless ``force``; ``out_csv`` gets the findings."""
    if cutoff is not None:
        check_cutoff_not_future(cutoff, force=force)
    if out_csv is not None:
        writable_file(out_csv, option="--out")
    with study.connect() as conn:
        tables = conn.source.tables()
        if cutoff is not None:
            check_cutoff_after_enrolment(cutoff, tables.raw, force=force)
        result = run_checks(tables, dictionary=study.dictionary, cutoff=cutoff or conn.cutoff)
    if out_csv is not None:
        result.findings.to_csv(out_csv, index=False)
    return result


def eligibility(study: Study, *, failing: bool = False,
                out_csv: Path | None = None) -> pd.DataFrame:
    """The screening table: each inclusion/exclusion criterion per patient (``failing``: only
    patients who fail one); ``out_csv`` gets it."""
    from sgbm_redcap.checks import screening_table

    if out_csv is not None:
        writable_file(out_csv, option="--out")
    with study.connect() as conn:
        table = screening_table(conn.source.tables())
    if failing:
        table = table[table["eligible_by_criteria"] != "eligible"]
    if out_csv is not None:
        table.to_csv(out_csv, index=False)
    return table
