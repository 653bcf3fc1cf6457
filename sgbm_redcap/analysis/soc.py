"""Treatment-emergent adverse events by CTCAE v5.0 system organ class (SOC) and term, and the
adverse events of special interest (AESIs) with onset, duration and resolution (DOMAIN §2.3
items 2–3).

* The **SOC** of an AE is that of its ``ae_term`` code in
  :data:`sgbm_redcap.dictionary.ctcae.CTCAE_SOC`, the one home of the term list; a pooled
  term (DOMAIN §2.2) sits in the SOC of its pool's CTCAE term, also when it was entered as a
  verbatim "Other" term; any other verbatim term is in :data:`UNCODED_SOC`.
* Each patient counts once per SOC and once per term, at the **highest grade** there:
  grade 1–2, 3, 4, 5, or grade not recorded; the columns add up to "any grade".
* **AESIs**: every pre-specified group of :data:`sgbm_redcap.analysis.safety.AESI_TERMS` is a
  row, with 0 when no patient had one, plus any other term a site flagged as an AESI. An
  episode is one TEAE row; it is **resolved by the cut-off** when its end date is on or
  before the cut-off, and its **duration** is end − onset + 1 days; an episode without an
  end date by the cut-off is ongoing (its duration is not known yet).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sgbm_redcap.analysis.safety import AESI_TERMS
from sgbm_redcap.dictionary.ctcae import CTCAE_SOC, POOLED_TERMS

#: the SOC row of verbatim ("Other, specify") terms, which the CRF does not code
UNCODED_SOC = "Other terms (verbatim, SOC not coded)"
#: grade columns of the SOC table: (column, label, grades)
GRADE_BANDS = (("n_g12", "Grade 1–2", (1, 2)), ("n_g3", "Grade 3", (3,)),
               ("n_g4", "Grade 4", (4,)), ("n_g5", "Grade 5", (5,)))


def soc_of(code: object, pooled: object) -> str:
    """The SOC of an AE from its ``ae_term`` code (or its pooled term's CTCAE code)."""
    if code in CTCAE_SOC:
        return CTCAE_SOC[code]
    pool = POOLED_TERMS.get(str(pooled), ())
    if pool and pool[0] in CTCAE_SOC:
        return CTCAE_SOC[pool[0]]
    return UNCODED_SOC


def _bands(worst: pd.Series) -> dict[str, int]:
    out = {"n_any": int(len(worst))}
    for column, _, grades in GRADE_BANDS:
        out[column] = int(worst.isin(grades).sum())
    out["n_grade_missing"] = int(worst.isna().sum())
    return out


def teae_by_soc(ae: pd.DataFrame) -> pd.DataFrame:
    """One row per SOC (``term`` blank) followed by its terms: patients at their highest
    grade in each band. SOCs and terms by decreasing frequency, then name."""
    t = ae[ae["teae"]].copy()
    t["soc"] = [soc_of(c, p) for c, p in zip(t["ae_term"], t["pooled_term"], strict=True)]
    columns = ["soc", "term", "n_any", *[c for c, _, _ in GRADE_BANDS], "n_grade_missing"]
    if t.empty:
        return pd.DataFrame(columns=columns)
    # a patient's highest grade; a grade not recorded only when none is
    soc_worst = t.groupby(["soc", "record_id"])["grade"].max()
    term_worst = t.groupby(["soc", "pooled_term", "record_id"])["grade"].max()
    rows = []
    for soc, worst in soc_worst.groupby(level=0):
        terms = [{"soc": soc, "term": term, **_bands(w)}
                 for term, w in term_worst.loc[soc].groupby(level=0)]
        terms.sort(key=lambda r: (-r["n_any"], str(r["term"]).lower()))
        rows.append(({"soc": soc, "term": "", **_bands(worst)}, terms))
    rows.sort(key=lambda r: (-r[0]["n_any"], r[0]["soc"] == UNCODED_SOC, r[0]["soc"]))
    return pd.DataFrame([row for soc, terms in rows for row in (soc, *terms)],
                        columns=columns)


def aesi_group(pooled_term: pd.Series, flagged: pd.Series) -> pd.Series:
    """The AESI group of each AE row (None when it is not an AESI): a pre-specified group by
    term, else its own term when the site flagged it as an AESI."""
    lowered = pooled_term.astype(str).str.lower()
    group = pd.Series(None, index=pooled_term.index, dtype=object)
    for name, terms in AESI_TERMS.items():
        group = group.where(group.notna() | ~lowered.isin(terms), name)
    return group.where(group.notna() | ~flagged.astype(bool), pooled_term)


def aesi_table(ae: pd.DataFrame, n_safety: int, cutoff: pd.Timestamp | None) -> pd.DataFrame:
    """Per AESI group (every pre-specified one, 0 when none occurred): patients, patients at
    grade ≥ 3, first onset day median/min/max, episodes, episodes resolved by the cut-off,
    duration of resolved episodes (days) median/min/max, episodes ongoing."""
    t = ae[ae["teae"]].copy()
    t["aesi"] = aesi_group(t["pooled_term"], t["aesi_flag"])
    t = t[t["aesi"].notna()]
    end = pd.to_datetime(t["ae_end_date"])
    if cutoff is not None:
        end = end.where(end <= cutoff)
    t["resolved"] = end.notna()
    t["duration_days"] = ((end - t["ae_onset_date"]).dt.days + 1).where(t["resolved"])
    groups = list(AESI_TERMS) + sorted(set(t["aesi"]) - set(AESI_TERMS))
    rows = []
    for name in groups:
        part = t[t["aesi"] == name]
        first = part.groupby("record_id")["onset_day"].min().dropna()
        worst = part.groupby("record_id")["grade"].max()
        dur = part["duration_days"].dropna()
        rows.append({
            "aesi": name, "prespecified": name in AESI_TERMS,
            "n": int(part["record_id"].nunique()),
            "pct": 100.0 * part["record_id"].nunique() / n_safety if n_safety else np.nan,
            "n_grade3plus": int((worst >= 3).sum()),
            "onset_median": float(first.median()) if len(first) else np.nan,
            "onset_min": float(first.min()) if len(first) else np.nan,
            "onset_max": float(first.max()) if len(first) else np.nan,
            "episodes": int(len(part)), "resolved": int(part["resolved"].sum()),
            "duration_median": float(dur.median()) if len(dur) else np.nan,
            "duration_min": float(dur.min()) if len(dur) else np.nan,
            "duration_max": float(dur.max()) if len(dur) else np.nan,
            "ongoing": int((~part["resolved"]).sum()),
        })
    return pd.DataFrame(rows)
