"""Baseline characteristics table (DOMAIN §6.2 item 4): n (%) for categories, median
(IQR; range) for numbers, each variable with its number missing. Percentages are of the
whole population (missing included), so the levels and "missing" add up to 100 %.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sgbm_redcap.analysis.inputs import prepare
from sgbm_redcap.analysis.subgroups import subgroup_membership

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


def baseline_table(tables: Any, population: list[str] | None = None) -> pd.DataFrame:
    """Rows: variable, level, n, value (text), n_missing (on the variable's first row)."""
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
        missing = total - len(values)
        rows.append({"variable": label, "level": "Median (IQR; range)", "n": len(values),
                     "value": _median(values), "n_missing": missing})
    for label, name in CATEGORICAL:
        order = list(study.labels.get(name, {}))
        rows.extend(_categorical(label, per[name], order,
                                 lambda code, n=name: study.label(n, code), total))
    for label in DERIVED:
        levels = sorted(per[label].dropna().unique())
        rows.extend(_categorical(label, per[label], levels, str, total))
    return pd.DataFrame(rows, columns=["variable", "level", "n", "value", "n_missing"])


def _median(values: pd.Series) -> str:
    if values.empty:
        return "–"
    q1, med, q3 = values.quantile([0.25, 0.5, 0.75])
    return f"{med:g} ({q1:g}–{q3:g}; {values.min():g}–{values.max():g})"


def _categorical(label: str, column: pd.Series, order: list, to_label, total: int) -> list:
    counts = column.dropna().value_counts()
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
