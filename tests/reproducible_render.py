"""Render the monthly report of a fixed synthetic cohort with a fixed generation time: the
helper of ``test_report_reproducible.py``, imported there and also run as a script in a
second interpreter (another ``PYTHONHASHSEED``), so that anything depending on set or dict
order, the clock or the process shows up as a byte difference.

    python tests/reproducible_render.py OUT_DIR
"""

from __future__ import annotations

import sys
from datetime import date, datetime, timezone
from pathlib import Path

CUTOFF = date(2026, 10, 31)
GENERATED = datetime(2026, 11, 2, 8, 30, tzinfo=timezone.utc)
N = 40


def render(out_dir: Path, *, pdf: bool = True) -> tuple[Path, Path | None]:
    from sgbm_redcap.dictionary.project import load_project
    from sgbm_redcap.reports.monthly import write_monthly_report
    from sgbm_redcap.source import build_tables
    from sgbm_redcap.synthetic.cohort import generate_cohort

    project = load_project(Path(__file__).resolve().parents[1] / "redcap_project")
    cohort = generate_cohort(n=N, seed=20240801, problem_rate=0.2)
    raw = cohort.to_frame(dictionary=project.dictionary, with_dag=True)
    tables = build_tables(raw, project.dictionary, repeating_forms=project.repeating_forms)
    files = write_monthly_report(tables, cutoff=CUTOFF, out_dir=out_dir, pdf=pdf,
                                 dags=project.dags, dictionary_version=project.version,
                                 project=project, data_source="synthetic cohort",
                                 generated_at=GENERATED, extract_date=GENERATED)
    return files.html, files.pdf


if __name__ == "__main__":
    render(Path(sys.argv[1]))
