"""Baseline items of DOMAIN §6.2 item 4 that the baseline table lacked, in its long format
(variable, level, n, value, n_missing), for any population (the FAS and each subtype):

* **local CNS therapy before SG**: patients with ≥ 1 course of each type (surgery, SRS,
  FSRT, WBRT, HA-WBRT, other) started before SG start, and those with none; a patient with
  several types counts in each, so these rows are not exclusive;
* **months from the last local CNS therapy to SG start**: the latest end (else start) date
  of any course before SG start, median (IQR; range), among the patients with one;
* **prior metastatic lines**: rows of prior systemic therapy in the metastatic setting
  started before SG start, 0 / 1 / 2 / ≥ 3 (exclusive, they add up to the population);
* **prior CDK4/6 inhibitor**, **prior immune checkpoint inhibitor**: any prior systemic row
  with that agent ticked (Yes / No).

The breast GPA is not computed: its factor points are not yet verified against the
publication (DOMAIN §4.4), and a prognostic score shown with wrong points misleads.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sgbm_redcap.analysis.inputs import StudyData
from sgbm_redcap.dictionary.model import checkbox_column
from sgbm_redcap.study_codes import DAYS_PER_MONTH, Checkbox, CnsTherapy, SysSetting, SystemicAgent

COLUMNS = ["variable", "level", "n", "value", "n_missing"]


def _row(variable: str, level: str, n: int, total: int, missing: int | None) -> dict:
    pct = 100 * n / total if total else np.nan
    return {"variable": variable, "level": level, "n": n,
            "value": f"{n} ({pct:.1f}%)" if total else "0", "n_missing": missing}


def _median(values: pd.Series) -> str:
    if values.empty:
        return "–"
    q1, med, q3 = values.quantile([0.25, 0.5, 0.75])
    return (f"{med:.1f} ({q1:.1f}–{q3:.1f}; {values.min():.1f}–{values.max():.1f})")


def baseline_extra(study: StudyData, population: list[str]) -> pd.DataFrame:
    """The added baseline rows for ``population`` (see the module docstring)."""
    ids = list(population)
    total = len(ids)
    start = study.one_per_record("sg_treatment").set_index("record_id")["sg_start_date"]
    start = start.reindex(ids)
    rows: list[dict] = []
    cns = study["prior_cns_therapy"]
    cns = cns[cns["record_id"].isin(ids)].copy()
    cns = cns[~(cns["cns_start_date"] > cns["record_id"].map(start))]
    variable = "Local CNS therapy before SG (a patient may have several)"
    for code in CnsTherapy:
        k = int(cns.loc[cns["cns_type"] == code, "record_id"].nunique())
        rows.append(_row(variable, study.label("cns_type", code), k, total, None))
    rows.append(_row(variable, "None", total - int(cns["record_id"].nunique()), total, None))
    rows[-len(CnsTherapy) - 1]["n_missing"] = 0
    last = cns.assign(when=cns["cns_end_date"].fillna(cns["cns_start_date"])).groupby(
        "record_id")["when"].max()
    months = ((start.reindex(last.index) - last).dt.days / DAYS_PER_MONTH).dropna()
    rows.append({"variable": "Months from the last local CNS therapy to SG start",
                 "level": "Median (IQR; range)", "n": len(months), "value": _median(months),
                 "n_missing": int(cns["record_id"].nunique() - len(months))})
    sys = study["prior_systemic_therapy"]
    sys = sys[sys["record_id"].isin(ids)]
    sys = sys[~(sys["sys_start_date"] > sys["record_id"].map(start))]
    lines = sys[sys["sys_setting"] == SysSetting.METASTATIC].groupby("record_id").size()
    lines = lines.reindex(ids, fill_value=0)
    for i, (label, hit) in enumerate((("0", lines == 0), ("1", lines == 1), ("2", lines == 2),
                                      ("≥ 3", lines >= 3))):
        rows.append(_row("Prior metastatic lines", label, int(hit.sum()), total,
                         0 if i == 0 else None))
    for agent, variable in ((SystemicAgent.CDK4_6, "Prior CDK4/6 inhibitor"),
                            (SystemicAgent.CHECKPOINT_INHIBITOR,
                             "Prior immune checkpoint inhibitor")):
        column = checkbox_column("sys_agents", agent)
        had = set(sys.loc[sys[column] == Checkbox.CHECKED, "record_id"]) \
            if column in sys.columns else set()
        rows.append(_row(variable, "Yes", len(had), total, 0))
        rows.append(_row(variable, "No", total - len(had), total, None))
    return pd.DataFrame(rows, columns=COLUMNS)
