"""Laboratory shift tables: baseline CTCAE v5.0 grade → worst post-baseline grade.

The CRF records laboratory values at baseline only (``demographics``: value, unit, LLN and
ULN per parameter). After SG starts, laboratory abnormalities reach the CRF as adverse events
of the matching CTCAE laboratory terms. So, per patient of the safety set and parameter:

* the **baseline grade** is computed from the value with the CTCAE v5.0 thresholds of
  DOMAIN §2.2 (admiral's ``ncictcaev5`` grading metadata), after converting the value and its
  limits to SI units; it is missing when the value, its unit or a limit the grade needs is;
* the **worst post-baseline grade** is the highest grade of a treatment-emergent adverse
  event with the parameter's CTCAE term, and 0 when there is none.

Hypokalemia grade 2 is "symptomatic"; as admiral does, a value below the LLN but at least
3.0 mmol/L is graded 2 (worst case).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sgbm_redcap.study_codes import LabUnit

from .inputs import prepare

#: the rows of a shift table: baseline grade, or "Missing"
BASELINE_LEVELS = ("0", "1", "2", "3", "4", "Missing")
#: its columns: worst post-baseline grade
WORST_LEVELS = ("0", "1", "2", "3", "4", "5")


def _below(value: float, lln: float | None, cuts: tuple[float, float, float],
           g2_at_lln: bool = False) -> int | None:
    """Grade of a "decreased" parameter: ``cuts`` are the G2, G3 and G4 upper bounds (value
    below the bound → that grade; NaN: no such grade); below the LLN otherwise → G1 (G2 when
    ``g2_at_lln``)."""
    g2, g3, g4 = cuts
    if value < g4:
        return 4
    if value < g3:
        return 3
    if value < g2:
        return 2
    if lln is None:
        return None
    if value < lln:
        return 2 if g2_at_lln else 1
    return 0


def _above(value: float, uln: float | None, ratios: tuple[float, float, float]) -> int | None:
    """Grade of an "increased" parameter from the value / ULN ratio (G2, G3, G4 lower bounds,
    exclusive); above the ULN otherwise → G1."""
    if uln is None or uln <= 0:
        return None
    ratio = value / uln
    g2, g3, g4 = ratios
    if ratio > g4:
        return 4
    if ratio > g3:
        return 3
    if ratio > g2:
        return 2
    return 1 if ratio > 1 else 0


@dataclass(frozen=True)
class LabParameter:
    """One laboratory parameter of the shift tables."""

    label: str
    field: str  # the baseline value's field in ``demographics``
    ae_terms: tuple[str, ...]  # ``ae_term`` codes of its CTCAE term(s)
    to_si: dict[str, float]  # unit code → factor to the SI unit the thresholds use
    grade: Callable[[float, float | None, float | None], int | None]  # (value, LLN, ULN)


LAB_PARAMETERS: tuple[LabParameter, ...] = (
    LabParameter("Neutrophil count decreased (ANC)", "anc", ("1101",),
                 {LabUnit.X10E9_PER_L: 1.0, LabUnit.CELLS_PER_UL: 0.001},
                 lambda v, lln, uln: _below(v, lln, (1.5, 1.0, 0.5))),
    LabParameter("Anemia (haemoglobin)", "hb", ("1001",),
                 {LabUnit.G_PER_L: 1.0, LabUnit.G_PER_DL: 10.0, LabUnit.MMOL_PER_L_HB: 16.11},
                 lambda v, lln, uln: _below(v, lln, (100.0, 80.0, -np.inf))),
    LabParameter("Platelet count decreased", "plt", ("1103",),
                 {LabUnit.X10E9_PER_L: 1.0, LabUnit.X10E3_PER_UL: 1.0},
                 lambda v, lln, uln: _below(v, lln, (75.0, 50.0, 25.0))),
    LabParameter("ALT increased", "alt", ("1105",), {LabUnit.U_PER_L: 1.0},
                 lambda v, lln, uln: _above(v, uln, (3.0, 5.0, 20.0))),
    LabParameter("AST increased", "ast", ("1106",), {LabUnit.U_PER_L: 1.0},
                 lambda v, lln, uln: _above(v, uln, (3.0, 5.0, 20.0))),
    LabParameter("Blood bilirubin increased", "tbil", ("1107",),
                 {LabUnit.UMOL_PER_L: 1.0, LabUnit.MG_PER_DL: 17.1},
                 lambda v, lln, uln: _above(v, uln, (1.5, 3.0, 10.0))),
    LabParameter("Hypokalemia (potassium)", "potassium", ("1502",),
                 {LabUnit.MMOL_PER_L: 1.0},
                 lambda v, lln, uln: _below(v, lln, (np.nan, 3.0, 2.5), g2_at_lln=True)),
    LabParameter("Hypomagnesemia (magnesium)", "magnesium", ("1503",),
                 {LabUnit.MMOL_PER_L: 1.0, LabUnit.MG_PER_DL: 0.4114},
                 lambda v, lln, uln: _below(v, lln, (0.5, 0.4, 0.3))),
)


def baseline_lab_grade(parameter: LabParameter, value: Any, unit: Any, lln: Any,
                       uln: Any) -> int | None:
    """CTCAE v5.0 grade of one baseline value (None: value, unit or a needed limit missing,
    or a unit the parameter does not know). LLN and ULN are in the value's unit."""
    factor = parameter.to_si.get(str(unit)) if _present(unit) else None
    if factor is None or not _present(value):
        return None
    lo = float(lln) * factor if _present(lln) else None
    hi = float(uln) * factor if _present(uln) else None
    return parameter.grade(float(value) * factor, lo, hi)


def _present(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return False
    if isinstance(value, float) and np.isnan(value):
        return False
    return not (isinstance(value, str) and value.strip() == "")


def lab_shifts(tables: Any, adverse_events: pd.DataFrame, population: list[str]) -> pd.DataFrame:
    """Per parameter, baseline grade (rows of ``BASELINE_LEVELS``) by worst post-baseline
    grade (``WORST_LEVELS``): a long table ``parameter, baseline, worst, n`` over the
    ``population`` (the safety set), every combination present (n may be 0).

    ``adverse_events`` is :func:`~sgbm_redcap.analysis.safety.adverse_events` output (its
    ``teae`` and ``grade`` columns are used).
    """
    study = prepare(tables)
    demo = study["demographics"].drop_duplicates("record_id").set_index("record_id")
    demo = demo.reindex(pd.Index(population, name="record_id"))
    teae = adverse_events[adverse_events["teae"] & adverse_events["record_id"].isin(population)]
    out = []
    for p in LAB_PARAMETERS:
        # prepare() gives demographics every lab column of the schema, blank if not sent
        columns = [f"{p.field}{suffix}" for suffix in ("", "_unit", "_lln", "_uln")]
        baseline = pd.Series(
            [_level(baseline_lab_grade(p, *row))
             for row in demo[columns].itertuples(index=False)],
            index=demo.index, dtype=object)
        hits = teae[teae["ae_term"].isin(p.ae_terms)]
        worst = hits.groupby("record_id")["grade"].max().reindex(demo.index).fillna(0)
        worst = worst.clip(0, 5).astype(int).astype(str)
        counts = (pd.crosstab(baseline, worst) if len(demo) else pd.DataFrame()).reindex(
            index=list(BASELINE_LEVELS), columns=list(WORST_LEVELS), fill_value=0)
        for level in BASELINE_LEVELS:
            for grade in WORST_LEVELS:
                out.append({"parameter": p.label, "baseline": level, "worst": grade,
                            "n": int(counts.loc[level, grade])})
    return pd.DataFrame(out, columns=["parameter", "baseline", "worst", "n"])


def _level(grade: int | None) -> str:
    return "Missing" if grade is None else str(grade)
