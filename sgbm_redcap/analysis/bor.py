"""Best overall response, confirmed and unconfirmed (DOMAIN §1.5).

The confirmed rule is the ADaM convention of ``pharmaverse/admiralonco``
``derive_param_confirmed_bor`` (read at commit 03b8675; tested on its nine-subject vector):

* only assessments up to and including the first PD date count;
* confirmed **CR**: a CR with a later CR ≥ ``ref_confirm`` days after it; the first such CR
  closes the window, everything in the window is CR or NE, at most ``max_nr_ne`` NE;
* confirmed **PR**: a PR with a later CR/PR ≥ ``ref_confirm`` days after it (the first one
  closes the window); everything in the window is CR, PR, SD or NE; at most ``max_nr_ne`` NE;
  at most one SD if ``accept_sd`` else none; no PR after a CR inside the window;
* **SD**: any CR/PR/SD at least ``ref_start_window`` days after the reference date;
  **NON-CR/NON-PD** likewise; **PD**: any PD; **NE**: an NE, or a CR/PR/SD/NON-CR/NON-PD
  earlier than ``ref_start_window``; **ND**: not done; **MISSING** (or NE when
  ``missing_as_ne``): no assessment at all;
* order CR > PR > SD > NON-CR/NON-PD > PD > NE > ND > MISSING; ties go to the earliest date.

The unconfirmed BOR is the same without the confirmation requirement: a CR or PR counts on
its own date (before the SD window too, as in admiralonco's unconfirmed ``derive_param_bor``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from sgbm_redcap.errors import AnalysisInputError

RESPONSES = ("CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE", "ND")
ORDER = {"CR": 1, "PR": 2, "SD": 3, "NON-CR/NON-PD": 4, "PD": 5, "NE": 6, "ND": 7, "MISSING": 8}


@dataclass(frozen=True)
class BorRules:
    """Options of the confirmation rule (admiralonco names). Study defaults: SD needs ≥6 weeks
    from SG start (iDCR definition, DOMAIN §1.8), confirmation ≥28 days (§1.4)."""

    ref_start_window: int = 42
    ref_confirm: int = 28
    max_nr_ne: int = 1
    accept_sd: bool = False
    missing_as_ne: bool = False


def best_overall_response(
    assessments: pd.DataFrame,
    reference_dates: Mapping[str, pd.Timestamp] | pd.Series,
    *,
    rules: BorRules = BorRules(),
    pd_dates: Mapping[str, pd.Timestamp] | pd.Series | None = None,
    confirmed: bool = True,
) -> pd.DataFrame:
    """BOR per subject of ``reference_dates``.

    ``assessments``: columns ``subject``, ``date``, ``response`` (values of :data:`RESPONSES`).
    ``pd_dates``: first PD date per subject; assessments after it are ignored.
    Returns columns subject, response, date (NaT for MISSING / no-assessment NE).
    """
    bad = set(assessments["response"].dropna()) - set(RESPONSES)
    if bad:
        raise AnalysisInputError(f"unknown response values {sorted(bad)}; expected {RESPONSES}",
                                 column="response")
    refs = pd.Series(reference_dates)
    pds = pd.Series(pd_dates) if pd_dates is not None else pd.Series(dtype="datetime64[ns]")
    by_subject = {s: g for s, g in assessments.dropna(subset=["response"]).groupby("subject")}
    rows = []
    for subject, ref in refs.items():
        series = by_subject.get(subject)
        if series is not None:
            series = series.sort_values("date")
            first_pd = pds.get(subject)
            if first_pd is not None and pd.notna(first_pd):
                series = series[series["date"] <= first_pd]
        rows.append((subject, *_best(series, pd.Timestamp(ref), rules, confirmed)))
    return pd.DataFrame(rows, columns=["subject", "response", "date"])


def _best(series: pd.DataFrame | None, ref: pd.Timestamp, rules: BorRules,
          confirmed: bool) -> tuple[str, pd.Timestamp]:
    candidates: list[tuple[int, pd.Timestamp, str]] = []
    if series is not None and len(series):
        dates = list(series["date"])
        values = list(series["response"])
        window_start = ref + pd.Timedelta(days=rules.ref_start_window)
        for i, (date, value) in enumerate(zip(dates, values, strict=True)):
            if value in ("CR", "PR"):
                ok = _confirmed(i, dates, values, rules) if confirmed else True
                if ok:
                    candidates.append((ORDER[value], date, value))
            if value in ("CR", "PR", "SD", "NON-CR/NON-PD"):
                if date >= window_start:
                    label = "NON-CR/NON-PD" if value == "NON-CR/NON-PD" else "SD"
                    candidates.append((ORDER[label], date, label))
                else:
                    candidates.append((ORDER["NE"], date, "NE"))
            elif value in ("PD", "NE", "ND"):
                candidates.append((ORDER[value], date, value))
    if not candidates:
        return ("NE" if rules.missing_as_ne else "MISSING"), pd.NaT
    order, date, value = min(candidates, key=lambda c: (c[0], c[1]))
    return value, date


def _confirmed(i: int, dates: list, values: list, rules: BorRules) -> bool:
    """admiralonco's filter_confirmation for the i-th assessment (CR or PR)."""
    value = values[i]
    targets = ("CR",) if value == "CR" else ("CR", "PR")
    earliest = dates[i] + pd.Timedelta(days=rules.ref_confirm)
    close = next((j for j in range(i + 1, len(values))
                  if values[j] in targets and dates[j] >= earliest), None)
    if close is None:
        return False
    window = values[i + 1: close + 1]
    if window.count("NE") > rules.max_nr_ne:
        return False
    if value == "CR":
        return all(v in ("CR", "NE") for v in window)
    if not all(v in ("CR", "PR", "SD", "NE") for v in window):
        return False
    if window.count("SD") > (1 if rules.accept_sd else 0):
        return False
    cr_at = [k for k, v in enumerate(window) if v == "CR"]
    pr_at = [k for k, v in enumerate(window) if v == "PR"]
    return not cr_at or not pr_at or min(cr_at) > max(pr_at)
