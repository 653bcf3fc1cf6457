"""The synthetic study, as the jobs layer sees it: the one module of ``jobs/`` that imports
the synthetic cohort and its seeding (so that moving them touches one import block)."""

from __future__ import annotations

from sgbm_redcap.synthetic.cohort import DEFAULT_EXTRACT_DATE, DEFAULT_SEED, Cohort
from sgbm_redcap.synthetic.seed import DEFAULT_PROJECT_DIR, SeededStudy, seed_study

__all__ = ["Cohort", "DEFAULT_EXTRACT_DATE", "DEFAULT_PROJECT_DIR", "DEFAULT_SEED", "SeededStudy",
           "seed_study"]
