"""The seeded 100-patient synthetic export that the monthly-report tests read, and the
visible text of a rendered report."""

from __future__ import annotations

import re
from html import unescape

import pandas as pd

from sgbm_redcap.dictionary.project import StudyProject, load_project
from sgbm_redcap.source import build_tables
from sgbm_redcap.synthetic.cohort import generate_cohort


def seeded_export() -> tuple[StudyProject, pd.DataFrame]:
    """The study project and the flat export (with DAGs) of the seeded cohort."""
    project = load_project("redcap_project")
    cohort = generate_cohort(n=100, seed=20240801, problem_rate=0.1)
    return project, cohort.to_frame(dictionary=project.dictionary, with_dag=True)


def study_tables(project: StudyProject, raw: pd.DataFrame):
    """``raw`` pulled into the study's tables, as the pull types them."""
    return build_tables(raw, project.dictionary, repeating_forms=project.repeating_forms,
                        missing_codes=project.missing_codes)


def visible_text(html: str) -> str:
    """Visible text (tags dropped, entities decoded), whitespace collapsed."""
    body = re.sub(r"<svg.*?</svg>|<style.*?</style>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", body)))
