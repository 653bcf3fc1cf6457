"""Two data cuts of a fixed synthetic cohort a month apart, and the monthly report of the
second rendered from it (``report monthly --cut``, with its changes since the first): the
helper of ``test_report_reproducible.py``, imported there and also run as a script in a
second interpreter (another ``PYTHONHASHSEED``), so that anything depending on set or dict
order, the clock or the process shows up as a byte difference.

    python tests/reproducible_render.py CUT_DIR OUT_DIR
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRST, SECOND = date(2026, 10, 25), date(2026, 11, 25)
N = 40


def make_cuts(root: Path) -> Path:
    """The two cuts in ``root``; returns the second's folder."""
    sys.path.insert(0, str(Path(__file__).parent))
    from cut_fixtures import cut_from_frame, utc

    from sgbm_redcap.dictionary.project import load_project
    from sgbm_redcap.synthetic.cohort import generate_cohort
    from sgbm_redcap.synthetic.waves import first_wave

    project = load_project(ROOT / "redcap_project")
    cohort = generate_cohort(n=N, seed=20240801, problem_rate=0.2)
    first = first_wave(cohort, project.dictionary, FIRST)
    cut_a = cut_from_frame(root / str(FIRST), first.to_frame(dictionary=project.dictionary),
                           project, cutoff=FIRST, created=utc(2026, 10, 26, 7, 0))
    cut_b = cut_from_frame(root / str(SECOND), cohort.to_frame(dictionary=project.dictionary),
                           project, cutoff=SECOND, created=utc(2026, 11, 26, 8, 30),
                           previous=cut_a)
    return cut_b.path


def render(cut: Path, out_dir: Path, *, pdf: bool = True) -> tuple[Path, Path | None]:
    from sgbm_redcap import jobs

    study = jobs.load_study(project_dir=ROOT / "redcap_project")
    files = jobs.monthly_report(study, out_dir=out_dir, cut=cut, pdf=pdf)
    return files.html, files.pdf


if __name__ == "__main__":
    render(Path(sys.argv[1]), Path(sys.argv[2]))
