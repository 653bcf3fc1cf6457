"""Deliberate second implementations (issue 12): each says so in its docstring, and these
tests keep it in step with the one the package uses.

* ``logic.rowwise.evaluate_rowwise`` — the row-by-row reference of the vectorised evaluator;
  ``test_logic_evaluate.py`` runs every case through both, ``test_logic_properties.py``
  compares them on generated expressions;
* ``synthetic.rano`` — the simulator's own RANO-BM arithmetic, against ``analysis.rano``
  on the clean synthetic cohort.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sgbm_redcap.analysis import rano_timepoints
from sgbm_redcap.dictionary.project import load_project
from sgbm_redcap.source import build_tables
from sgbm_redcap.synthetic.cohort import generate_cohort

ROOT = Path(__file__).resolve().parents[1]


def test_both_docstrings_say_they_are_deliberate() -> None:
    from sgbm_redcap.logic import rowwise
    from sgbm_redcap.synthetic import rano

    for module in (rowwise, rano):
        assert "deliberate second implementation" in (module.__doc__ or ""), module.__name__


@pytest.fixture(scope="module")
def clean_cohort():
    project = load_project(ROOT / "redcap_project")
    cohort = generate_cohort(n=100, seed=20240801, problem_rate=0.0)
    flat = cohort.to_frame(clean=True, dictionary=project.dictionary)
    return flat, build_tables(flat, project.dictionary, repeating_forms=project.repeating_forms,
                          missing_codes=project.missing_codes)


def test_the_simulators_rano_bm_agrees_with_the_analysis(clean_cohort) -> None:
    """Every follow-up scan's investigator call (the simulator's ``synthetic.rano``) equals
    the response ``analysis.rano`` derives from the same measurements, except the one rule
    the simulator leaves out: leptomeningeal disease present but not progressing bars CR
    in the analysis (CR needs LMD absent), not in the simulator."""
    flat, tables = clean_cohort
    tp = rano_timepoints(tables)
    ia = flat[flat["redcap_repeat_instrument"] == "intracranial_assessment"]
    lmd = {(str(r), int(i)): v for r, i, v in
           zip(ia["record_id"], ia["redcap_repeat_instance"], ia["ia_lmd"], strict=True)}
    tp["lmd"] = [lmd[(str(r), int(i))] for r, i in
                 zip(tp["record_id"], tp["redcap_repeat_instance"], strict=True)]
    assert len(tp) > 150
    differ = tp[~tp["agree"].astype(bool)]
    known = (differ["response_investigator"] == "CR") & (differ["response_derived"] == "PR") \
        & differ["lmd"].isin(["1", "2"])
    assert differ[~known].empty, differ[~known]
    # the known difference is rare; if it is ever fixed in the simulator, drop the exception
    assert len(differ) <= 3
