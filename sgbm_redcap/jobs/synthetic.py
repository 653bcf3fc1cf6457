"""The synthetic study, as the jobs layer sees it: the one module of ``jobs/`` that imports
the synthetic cohort and its seeding (so that moving them touches one import block)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sgbm_redcap.dictionary.project import StudyProject
from sgbm_redcap.synthetic.cohort import DEFAULT_EXTRACT_DATE, DEFAULT_SEED, Cohort, generate_cohort
from sgbm_redcap.synthetic.seed import DEFAULT_PROJECT_DIR, DEFAULT_SITES, SeededStudy, seed_study
from sgbm_redcap.synthetic.waves import (
    Correction,
    first_wave,
    retrospective_corrections,
    second_wave,
)

__all__ = ["Cohort", "DEFAULT_EXTRACT_DATE", "DEFAULT_PROJECT_DIR", "DEFAULT_SEED", "SeededStudy",
           "TwoWaves", "month_before", "seed_study", "two_waves"]


def month_before(day: date) -> date:
    """The same day a month earlier (the day before the month's first when it has none)."""
    first = day.replace(day=1)
    previous_end = first - timedelta(days=1)
    return previous_end.replace(day=min(day.day, previous_end.day))


@dataclass
class TwoWaves:
    """The demo's cohort in two waves: ``first`` as entered a month before the extract date,
    ``second`` the rows entered in the month after, ``corrections`` the retrospective
    changes made then."""

    cohort: Cohort
    first: Cohort
    second: list[dict[str, str]]
    corrections: list[Correction]


def two_waves(project: StudyProject, *, n: int, seed: int, problem_rate: float,
              extract_date: date = DEFAULT_EXTRACT_DATE) -> TwoWaves:
    cohort = generate_cohort(n, seed, problem_rate, extract_date=extract_date,
                             sites=project.dags[:DEFAULT_SITES])
    first = first_wave(cohort, project.dictionary, month_before(extract_date))
    return TwoWaves(cohort, first, second_wave(cohort, first),
                    retrospective_corrections(first, project.dictionary, first.extract_date))
