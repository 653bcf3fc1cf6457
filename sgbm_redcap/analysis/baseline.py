"""Baseline characteristics table (DOMAIN §6.2 item 4): n (%) for categories, median
(IQR; range) for numbers, each variable with its number missing. Percentages are of the
whole population (missing included), so the levels and "missing" add up to 100 %.

A value is *missing* only where the field's branching logic shows it: a patient not on a
corticosteroid has no dexamethasone dose to miss, and is counted as *not applicable*
(``n_not_applicable``). A stored code that is not one of the field's choices is no level
of its own: such codes are pooled as :data:`INVALID_CODE`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sgbm_redcap.analysis.inputs import prepare
from sgbm_redcap.analysis.subgroups import subgroup_membership
from sgbm_redcap.dictionary.project import study_project

#: the level that pools stored codes which are not choices of their field
INVALID_CODE = "Invalid code"
#: what a blank is for a field whose note says to leave it blank when not tested
NOT_TESTED = "Not tested or not recorded"

#: (label, field) of categorical variables read from the coded frames
CATEGORICAL = [
    ("Sex", "sex"), ("Menopausal status", "menopausal"), ("ECOG PS", "ecog"),
    ("Subtype at SG start", "subtype_sg"), ("UGT1A1*28", "ugt1a1_28"),
    ("De novo stage IV", "de_novo_iv"), ("Visceral metastases", "visceral_mets"),
    ("Number of BM", "bm_count_cat"), ("Symptomatic BM", "bm_symptomatic"),
    ("Leptomeningeal disease", "lmd"), ("BM status at SG start", "bm_status"),
    ("Corticosteroid at SG start", "steroid_at_start"), ("Antiepileptic at SG start",
                                                          "aed_at_start"),
    ("SG starting dose", "sg_start_dose"),
]
#: (label, field) of numeric variables
NUMERIC = [
    ("Age at SG start (years)", "age_sg_start"), ("KPS", "kps"),
    ("Largest BM (mm)", "bm_largest_mm"), ("Measurable BM (n)", "bm_measurable_n"),
    ("Trop-2 H-score", "trop2_hscore"), ("Line of SG", "sg_line"),
    ("Dexamethasone at SG start (mg/day)", "steroid_dex_mg"),
]
#: derived categorical variables taken from the subgroup definitions
DERIVED = ["HER2 status", "Prior CNS radiation", "CNS radiation < 4 weeks before SG",
           "Prior T-DXd or other ADC"]


def baseline_table(tables: Any, population: list[str] | None = None,
                   dictionary: Any = None) -> pd.DataFrame:
    """Rows: variable, level, n, value (text), n_missing and n_not_applicable (on the
    variable's first row). ``dictionary`` gives the branching logic (default: that of
    ``tables``, else the study's)."""
    dictionary = dictionary or getattr(tables, "dictionary", None) or study_project().dictionary
    study = prepare(tables)
    per = study.one_per_record("demographics", "tumour", "brain_mets_baseline",
                               "sg_treatment")
    per = per.merge(subgroup_membership(study)[["record_id", *DERIVED]], on="record_id")
    if population is not None:
        per = per[per["record_id"].isin(population)]
    total = len(per)
    rows: list[dict] = []
    for label, name in NUMERIC:
        values = per[name].dropna()
        shown = _shown(per, name, dictionary)
        why = _coded(study, per, name)
        missing = int((per[name].isna() & shown & why.isna()).sum())
        rows.append({"variable": label, "level": "Median (IQR; range)", "n": len(values),
                     "value": _median(values), "n_missing": missing,
                     "n_not_applicable": total - len(values) - missing - int(why.notna().sum()),
                     "missing_label": _missing_label(name, dictionary)})
        for reason, n in why.value_counts(sort=False).items():
            rows.append({"variable": label, "level": f"{reason} (missing data code)", "n": n,
                         "value": f"{n} ({100 * n / total:.1f}%)"})
    for label, name in CATEGORICAL:
        order = list(study.labels.get(name, {}))
        why = _coded(study, per, name)
        reasons = [f"{r} (missing data code)" for r in dict.fromkeys(why.dropna())]
        column = per[name].astype(object).where(why.isna(), why + " (missing data code)")
        rows.extend(_categorical(label, column, order,
                                 lambda code, n=name, r=tuple(reasons): code if code in r
                                 else study.label(n, code), total, invalid=True,
                                 extra=reasons))
    for label in DERIVED:
        levels = sorted(per[label].dropna().unique())
        rows.extend(_categorical(label, per[label], levels, str, total))
    return pd.DataFrame(rows, columns=["variable", "level", "n", "value", "n_missing",
                                       "n_not_applicable", "missing_label"])


def _missing_label(name: str, dictionary: Any) -> str:
    """"Missing", or :data:`NOT_TESTED` where the CRF tells the site to leave the field blank
    when the test was not done (its field note): the blank is then no omission."""
    note = dictionary.field(name).field_note.lower() if name in dictionary else ""
    return NOT_TESTED if "blank if not tested" in note else "Missing"


def _coded(study: Any, per: pd.DataFrame, name: str) -> pd.Series:
    """Per row of ``per``: the reason of the missing data code ``name`` holds (the analyses
    read the value as missing; :meth:`StudyData.reasons`), else NaN."""
    reasons = study.reasons(name) if hasattr(study, "reasons") else pd.Series(dtype=object)
    return pd.Series(per["record_id"].astype(str).map(reasons).to_numpy(), index=per.index,
                     dtype=object)


def _shown(per: pd.DataFrame, name: str, dictionary: Any) -> pd.Series:
    """Where ``name``'s branching logic holds (everywhere without logic, or when the logic
    cannot be evaluated on these columns: then a blank counts as missing)."""
    from sgbm_redcap.logic import evaluate, parse

    logic = dictionary.field(name).branching_logic if name in dictionary else ""
    if not logic:
        return pd.Series(True, index=per.index)
    try:
        return evaluate(parse(logic), per, dictionary=dictionary).fillna(True).astype(bool)
    except Exception:  # noqa: BLE001 - unsupported logic: count every blank as missing
        return pd.Series(True, index=per.index)


def _median(values: pd.Series) -> str:
    if values.empty:
        return "–"
    q1, med, q3 = values.quantile([0.25, 0.5, 0.75])
    return f"{med:g} ({q1:g}–{q3:g}; {values.min():g}–{values.max():g})"


def _categorical(label: str, column: pd.Series, order: list, to_label, total: int,
                 invalid: bool = False, extra: list[str] | None = None) -> list:
    """n (%) per level in ``order``; with ``invalid``, values outside ``order`` and
    ``extra`` (the missing-data-code reasons, shown last) pool as :data:`INVALID_CODE`,
    else they follow the ordered levels."""
    present = column.dropna()
    extra = extra or []
    if invalid and order:
        bad = ~present.astype(str).isin([str(c) for c in [*order, *extra]])
        present = present.astype(object).where(~bad, INVALID_CODE)
        order = [*order, INVALID_CODE, *extra]
        label_of = to_label

        def to_label(code: Any) -> str:
            return INVALID_CODE if code == INVALID_CODE else label_of(code)
    counts = present.value_counts()
    missing = int(column.isna().sum())
    levels = [c for c in order if c in counts.index]
    levels += [c for c in counts.index if c not in levels]
    rows = []
    for i, code in enumerate(levels):
        n = int(counts[code])
        pct = 100 * n / total if total else np.nan
        rows.append({"variable": label, "level": to_label(code), "n": n,
                     "value": f"{n} ({pct:.1f}%)", "n_missing": missing if i == 0 else None})
    if not levels:
        rows.append({"variable": label, "level": "–", "n": 0, "value": "–",
                     "n_missing": missing})
    return rows
