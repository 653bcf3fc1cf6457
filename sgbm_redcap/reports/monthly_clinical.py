"""The clinical sections of the monthly report: baseline, exposure, efficacy, safety,
benchmarks. Every number comes from :class:`sgbm_redcap.analysis.StudyResults`; this module
only lays the results out as tables and figures."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from sgbm_redcap.dictionary.model import record_sort_key
from sgbm_redcap.reports import figures
from sgbm_redcap.reports.contexts import (
    Figure,
    KeyFigure,
    KeyFigures,
    Paragraph,
    Section,
    Table,
)
from sgbm_redcap.reports.formatting import DASH, median_iqr, missing_row, n_pct, reader_text
from sgbm_redcap.reports.monthly_sections import death_details, sae_details, subgroup_rows
from sgbm_redcap.reports.monthly_summary import plural
from sgbm_redcap.reports.redaction import listing_table
from sgbm_redcap.study_codes import DAYS_PER_MONTH, AeAction, AeOutcome

log = logging.getLogger(__name__)


def _n(results: Any, name: str) -> int:
    return int(results.set_counts.get(name, 0))


def _pct_ci(p: Any, digits: int = 1) -> str:
    """``20.0 (12.1–30.1)`` for a Proportion; a dash for an empty set."""
    if p is None or not p.n:
        return DASH
    return (f"{100 * p.estimate:.{digits}f} ({100 * p.lower:.{digits}f}–"
            f"{100 * p.upper:.{digits}f})")


# --------------------------------------------------------------------------- 4 baseline
# --------------------------------------------------------------------------- 5 exposure
def exposure_section(results: Any) -> Section:
    ex = results.exposure
    n = len(ex)
    # reductions against each patient's start dose (analysis.exposure.reduced_steps): the
    # sub-rows split the reduced patients by the lowest level given, so they add up
    reduced = ex["reduced"].astype(bool)
    lowest = ex["lowest_level_mg_per_kg"]
    rows = [
        ["Doses given, median (IQR)", median_iqr(ex["n_doses"], 0)],
        ["Cycles started, median (IQR)", median_iqr(ex["n_cycles"], 0)],
        ["Treatment duration, months, median (IQR)",
         median_iqr(ex["duration_days"] / DAYS_PER_MONTH)],
        ["Cumulative dose, mg/kg, median (IQR)", median_iqr(ex["cumulative_mg_per_kg"])],
        ["Relative dose intensity, %, median (IQR)",
         median_iqr(100 * ex["relative_dose_intensity"], 0)],
        ["≥ 1 dose delayed", n_pct(int(ex["any_delay"].sum()), n)],
        ["Started below 10 mg/kg", n_pct(int(ex["started_reduced"].sum()), n)],
        ["≥ 1 dose reduction", n_pct(int(reduced.sum()), n)],
        ["    reduced to 7.5 mg/kg", n_pct(int((reduced & (lowest == 7.5)).sum()), n)],
        ["    reduced to 5 mg/kg", n_pct(int((reduced & (lowest == 5)).sum()), n)],
        ["SG stopped", n_pct(int(ex["discontinued"].sum()), n)],
    ]
    reasons = ex.loc[ex["discontinued"].astype(bool), "discontinuation_reason"]
    for reason, k in reasons.fillna("Reason not recorded").value_counts().items():
        rows.append([f"    {reason}", n_pct(int(k), n)])
    # short: it follows the baseline table on its last page
    return Section("exposure", "Exposure to SG", page_break=False, blocks=[Table(
        "exposure-table", "Table 11. Exposure and dose modifications (safety set)",
        ["", f"Safety set (N = {n})"], rows,
        footnote="Relative dose intensity: delivered over planned dose intensity (10 mg/kg on "
        "days 1 and 8 of 21-day cycles). A dose reduction is a dose level below every level "
        "before it, the patient's start dose included: a patient who started at 7.5 mg/kg "
        "and stayed there is not reduced; the reduced are split by the lowest level given.")])


# --------------------------------------------------------------------------- 6 efficacy
BOR_ROWS = [("CR", "Complete response (CR)"), ("PR", "Partial response (PR)"),
            ("SD", "Stable disease (SD)"), ("NON-CR/NON-PD", "Non-CR/non-PD"),
            ("PD", "Progressive disease (PD)"), ("NE", "Not evaluable (NE)"),
            ("ND", "Not done"), ("MISSING", "No post-baseline brain assessment")]


def ires_bor(results: Any) -> pd.DataFrame:
    ires = results.sets.loc[results.sets["ires"], "record_id"]
    return results.bor_intracranial[results.bor_intracranial["record_id"].isin(ires)]


def bor_table(results: Any) -> Table:
    bor = ires_bor(results)
    n = len(bor)
    rows = []
    for code, label in BOR_ROWS:
        c = int((bor["confirmed"] == code).sum())
        u = int((bor["unconfirmed"] == code).sum())
        if code in ("NON-CR/NON-PD", "ND", "MISSING") and not (c or u):
            continue
        rows.append([label, n_pct(c, n), n_pct(u, n)])
    return Table("best-response", "Table 12. Best overall intracranial response (RANO-BM)",
                 ["Best response", f"Confirmed (N = {n})", f"Unconfirmed (N = {n})"], rows,
                 footnote="Intracranial response-evaluable set. Confirmed CR/PR needs a second "
                 "assessment ≥ 28 days later; SD needs an assessment ≥ 6 weeks after SG start. "
                 "Patients without a post-baseline brain scan stay in the denominator.")


RATE_ROWS = [("iORR_confirmed", "iORR, confirmed"), ("iORR_unconfirmed", "iORR, unconfirmed"),
             ("iDCR", "iDCR"), ("iCBR", "Intracranial clinical benefit (≥ 24 weeks)"),
             ("ORR_confirmed", "Extracranial ORR (RECIST 1.1), confirmed"),
             ("ORR_unconfirmed", "Extracranial ORR (RECIST 1.1), unconfirmed"),
             ("CBR", "Extracranial clinical benefit (≥ 24 weeks)")]


def rates_table(results: Any) -> Table:
    rows = [[label, f"{p.x}/{p.n}", _pct_ci(p)] for key, label in RATE_ROWS
            if (p := results.proportions.get(key)) is not None]
    return Table("response-rates", "Table 13. Response and disease-control rates",
                 ["Endpoint", "n/N", "% (95% CI)"], rows,
                 footnote="iORR: CR or PR; iDCR: CR, PR, SD or non-CR/non-PD (confirmed best "
                 "response). Intracranial rates over the response-evaluable set; extracranial "
                 "over FAS patients with measurable extracranial disease. Exact "
                 "(Clopper–Pearson) 95% CIs.")


def efficacy_key(results: Any) -> KeyFigures | Paragraph:
    p = results.proportions
    items = []
    for key, label in (("iORR_confirmed", "Confirmed iORR"),
                       ("iORR_unconfirmed", "Unconfirmed iORR"), ("iDCR", "iDCR")):
        prop = p.get(key)
        if prop is not None and prop.n:
            items.append(KeyFigure(label, f"{100 * prop.estimate:.1f}%",
                                   f"{prop.x}/{prop.n}; 95% CI {100 * prop.lower:.1f}–"
                                   f"{100 * prop.upper:.1f}"))
    from sgbm_redcap.analysis import fmt_time

    km = results.km.get("ipfs")
    if km is not None:
        items.append(KeyFigure("Median iPFS", f"{fmt_time(km.median)} months",
                               f"95% CI {fmt_time(km.median_lower)}–"
                               f"{fmt_time(km.median_upper)}; {km.events} events in {km.n}"))
    if not items:
        return Paragraph("No patient is response-evaluable yet.", "warning")
    return KeyFigures("efficacy-key", items)


def waterfall(results: Any, new_lesion: pd.Series | None = None) -> Figure:
    """``new_lesion``: per record_id, True when a new brain lesion was recorded after
    baseline (marked above the bar)."""
    bor = ires_bor(results)
    data = pd.DataFrame({"record_id": bor["record_id"],
                         "best_pct_change": bor["best_pct_change"],
                         "bor": bor["confirmed"].replace({"NON-CR/NON-PD": "non-CR/non-PD",
                                                          "MISSING": "NE", "ND": "NE"})})
    if new_lesion is not None:
        data["new_lesion"] = data["record_id"].map(new_lesion).fillna(False).astype(bool)
    measured = int(data["best_pct_change"].notna().sum())
    return Figure("fig-waterfall", "Figure 2. Best change from baseline in the sum of "
                  "intracranial target-lesion diameters",
                  figures.waterfall_figure(data, figure_id="waterfall"),
                  f"One bar per patient of the response-evaluable set with a measured "
                  f"follow-up ({measured} of {len(data)}); colour: confirmed best response. "
                  "Dashed lines: −30% (partial response) and +20% (progression threshold); "
                  "a square on the zero line: no change; a star: a new brain lesion recorded "
                  "after baseline (progression whatever the bar).")


def swimmer(results: Any, subtype: pd.Series | None = None) -> Figure:
    """Follow-up per FAS patient with the time on SG as its part, first response,
    intracranial PD and death."""
    fas = results.sets.loc[results.sets["fas"], "record_id"]
    ex = results.exposure.set_index("record_id").reindex(fas)
    start = results.sets.set_index("record_id")["sg_start_date"].reindex(fas)
    ep = results.endpoints
    ipfs = ep[ep["endpoint"] == "ipfs"].set_index("record_id").reindex(fas)
    os_ = ep[ep["endpoint"] == "os"].set_index("record_id").reindex(fas)
    bor = results.bor_intracranial.set_index("record_id").reindex(fas)
    responded = bor["unconfirmed"].isin(["CR", "PR"])
    resp_date = pd.to_datetime(bor["unconfirmed_date"])
    resp_month = ((resp_date - pd.to_datetime(start)).dt.days / DAYS_PER_MONTH).where(responded)
    duration = ex["duration_days"].fillna(0) / DAYS_PER_MONTH
    data = pd.DataFrame({
        "record_id": fas.to_numpy(),
        "months": duration.to_numpy(),
        "ongoing": (~ex["discontinued"].fillna(False).astype(bool)).to_numpy(),
        "response_month": resp_month.to_numpy(),
        "ipd_month": ipfs["months"].where(ipfs["event_type"] == 1).to_numpy(),
        "death_month": os_["months"].where(os_["event"] == 1).to_numpy(),
        "followup_month": os_["months"].to_numpy(),
    })
    if subtype is not None:
        data["subtype"] = subtype.reindex(fas).fillna("Subtype missing").to_numpy()
    return Figure("fig-swimmer", "Figure 3. Follow-up, time on SG and key events per patient",
                  figures.swimmer_figure(data, figure_id="swimmer"),
                  "Full analysis set, one bar per patient: the light bar is the follow-up "
                  "(SG start to death, last contact or the cut-off, as for overall survival), "
                  "its coloured part the time on SG; markers at the first CR/PR, intracranial "
                  "progression (iPFS event) and death; an arrow marks patients still on SG.")


def tte_table(results: Any) -> Table:
    """Landmark columns only at the months the follow-up reaches (results.landmark_months);
    a rate with nobody at risk there is "NE", with the reason in the footnote."""
    from sgbm_redcap.analysis import Landmark, fmt_pct

    marks = results.landmarks.set_index(["endpoint", "months"])
    months = results.landmark_months
    rows, unreached = [], {}
    for name, label in (("ipfs", "Intracranial PFS"), ("pfs", "PFS (either compartment)"),
                        ("os", "Overall survival"), ("idor", "Duration of intracranial "
                                                             "response")):
        km = results.km.get(name)
        if km is None:
            continue
        cells = []
        for month in months:
            if (name, month) not in marks.index:
                cells.append(DASH)
                continue
            m = marks.loc[(name, month)]
            mark = Landmark(month, m["survival"], m["lower"], m["upper"], int(m["at_risk"]),
                            m["reason"])
            # "60 (49–70) [47]": the rate, its CI and, in brackets, the patients at risk,
            # short enough for four landmark columns to fit the page
            cells.append(f"{fmt_pct(mark.survival, 0)} ({fmt_pct(mark.lower, 0)}–"
                         f"{fmt_pct(mark.upper, 0)}) [{mark.at_risk}]" if mark.estimable else "NE")
            if not mark.estimable:
                unreached[label] = mark.reason
        rows.append([label, str(km.n), str(km.events), km.median_text(), *cells])
    headers = [f"{m:g}-month rate, % (95% CI) [at risk]" for m in months]
    not_shown = [m for m in results.options.landmark_months if m not in months]
    footnote = ("Kaplan–Meier from SG start; log-log pointwise 95% CIs; Brookmeyer–Crowley CI "
                "of the median; NR = not reached; [n]: patients still at risk at the "
                "landmark. Duration of response among confirmed "
                "responders. Censoring reasons in {ref:censoring}.")
    if unreached:
        footnote += " NE = not estimable, nobody at risk: " + "; ".join(
            f"{label}, {reason.removeprefix('no patient at risk: ')} months"
            for label, reason in unreached.items()) + "."
    if not_shown:
        footnote += (" No endpoint is followed to " + ", ".join(f"{m:g}" for m in not_shown)
                     + " months yet; those rates are not shown.")
    return Table("tte-summary", "Table 14. Time-to-event endpoints (full analysis set)",
                 ["Endpoint", "N", "Events", "Median, months (95% CI)", *headers], rows,
                 footnote=footnote, wide=True)


def km_figure(results: Any, name: str, title: str, fig_no: int) -> Figure:
    km = results.km.get(name)
    fas = results.sets.loc[results.sets["fas"], "record_id"]
    ep = results.endpoints
    frame = ep[(ep["endpoint"] == name) & ep["record_id"].isin(fas)]
    curve = figures.SurvivalCurve("FAS", frame["months"].to_numpy(float),
                                  frame["event"].to_numpy(int),
                                  table=None if km is None else km.table)
    short = {"ipfs": "iPFS", "os": "OS"}.get(name, name)
    return Figure(f"fig-km-{name}", f"Figure {fig_no}. {title} (Kaplan–Meier)",
                  figures.km_figure([curve], ylabel=f"{short} (%)", figure_id=f"km-{name}"),
                  "Shaded: pointwise 95% band (log-log); ticks: censored patients; numbers at "
                  "risk under the axis." + (f" Median {km.median_text()} months." if km else ""))


def censoring_table(results: Any) -> Table:
    fas = results.sets.loc[results.sets["fas"], "record_id"]
    ep = results.endpoints
    rows = []
    for name, label in (("ipfs", "iPFS"), ("os", "OS")):
        part = ep[(ep["endpoint"] == name) & ep["record_id"].isin(fas)]
        reasons = part["reason"].str.replace(r" \(\d+ days\)$", "", regex=True)
        for reason, k in reasons.value_counts().items():
            rows.append([label, reader_text(str(reason)), n_pct(int(k), len(part))])
    return Table("censoring", "Table 15. Events and censoring reasons (full analysis set)",
                 ["Endpoint", "Event or censoring reason", "Patients"], rows, text_columns=2,
                 footnote="Censoring rules of the FDA guidance on clinical trial endpoints "
                 "for cancer drugs (2018), Appendix 3.")


def cif_figure(results: Any) -> Figure:
    fas = results.sets.loc[results.sets["fas"], "record_id"]
    ep = results.endpoints
    part = ep[(ep["endpoint"] == "ipfs") & ep["record_id"].isin(fas)]
    cif = results.cumulative_incidence_ipd
    from sgbm_redcap.analysis import cumulative_incidence, fmt_pct

    note = ""
    shown = cif[cif["reason"] == ""] if cif is not None else None
    if shown is not None and len(shown):   # only the landmark months with patients at risk
        note = " " + "; ".join(
            f"at {t:g} months {fmt_pct(c)}% (95% CI {fmt_pct(lo)}–{fmt_pct(hi)})"
            for t, c, lo, hi in shown[["time", "cumulative_incidence", "lower",
                                       "upper"]].itertuples(index=False)) + "."
    curves = {}
    for code, label in ((1, "Intracranial progression"),
                        (2, "Death without intracranial progression")):
        k = int((part["event_type"] == code).sum())
        if len(part) and k:
            curves[f"{label} ({k} events)"] = cumulative_incidence(
                part["months"].to_numpy(float), part["event_type"].to_numpy(int),
                event_of_interest=code)
    return Figure("fig-cif", "Figure 6. Cumulative incidence of intracranial progression, "
                  "with death without it as a competing event",
                  figures.cumulative_incidence_figure(curves, figure_id="cif"),
                  "Aalen–Johansen estimator, full analysis set. Intracranial progression:" +
                  (note or " not estimable yet."))


def forest(results: Any) -> Figure:
    """Confirmed iORR by pre-specified subgroup (analysis.subgroups), suppressed when small."""
    sub = results.subgroups
    overall = results.proportions.get("iORR_confirmed")
    rows = []
    for heading, part in sub.groupby("subgroup", sort=False):
        rows.append({"label": heading, "n": np.nan, "estimate": np.nan, "lower": np.nan,
                     "upper": np.nan, "text": "", "suppressed": False})
        for r in part.itertuples(index=False):
            small = pd.isna(r.iorr)
            rows.append({
                "label": f"  {reader_text(str(r.level))}", "n": r.n_ires,
                "estimate": np.nan if small else 100 * r.iorr,
                "lower": np.nan if small else 100 * r.iorr_lower,
                "upper": np.nan if small else 100 * r.iorr_upper,
                "text": f"{r.responders}/{r.n_ires}" + ("" if small else
                                                        f"  {100 * r.iorr:.0f}% "
                                                        f"({100 * r.iorr_lower:.0f}–"
                                                        f"{100 * r.iorr_upper:.0f})"),
                "suppressed": bool(small)})
    svg = figures.forest_figure(pd.DataFrame(rows), xlabel="Confirmed iORR, % (95% CI)",
                                overall=100 * overall.estimate if overall and overall.n
                                else None, xlim=(0, 100), figure_id="forest")
    return Figure("fig-forest", "Figure 7. Confirmed intracranial response rate by subgroup",
                  svg, f"Response-evaluable set; exact 95% CIs. Subgroups with fewer than "
                  f"{results.options.min_patients} patients are listed without an estimate "
                  "(grey). Dashed line: overall rate. Descriptive only."
                  + unassigned_note(sub, "n_ires", _n(results, "ires")))


def unassigned_note(sub: pd.DataFrame, column: str, total: int) -> str:
    """The patients of a set of ``total`` who are in no level of a subgroup (not tested,
    not recorded), per subgroup: a subgroup table never drops them silently."""
    counts = {str(name): total - int(part[column].sum())
              for name, part in sub.groupby("subgroup", sort=False)}
    shown = "; ".join(f"{name} {n}" for name, n in counts.items() if n > 0)
    return (f" Patients in no level of a subgroup (not tested or not recorded): {shown}."
            if shown else "")


def subgroup_ipfs_table(results: Any) -> Table:
    rows, groups = subgroup_rows(results.subgroups, "ipfs")
    return Table("subgroup-ipfs", "Table 17. Median iPFS by subgroup (full analysis set)",
                 ["Subgroup", "N", "Events", "Median iPFS, months (95% CI)",
                  "HR (95% CI)"], rows,
                 group_rows=groups,
                 footnote=f"† Suppressed: fewer than {results.options.min_patients} patients "
                 f"or {results.options.min_events} events. NR = not reached. HR: Cox model "
                 "(Efron ties, Wald CI) of iPFS, the second level against the first, for "
                 "subgroups of two levels, shown only when neither level is suppressed; "
                 "descriptive only." + unassigned_note(results.subgroups, "n_fas",
                                                       _n(results, "fas")))


def efficacy_section(results: Any, subtype: pd.Series | None = None,
                     new_lesion: pd.Series | None = None) -> Section:
    """``subtype``: label per record_id, to colour the swimmer plot; ``new_lesion``: see
    :func:`waterfall`."""
    # the TTE table before the (page-tall) swimmer plot: after it, the waterfall's page was
    # mostly blank
    blocks: list[Any] = [efficacy_key(results), bor_table(results), rates_table(results),
                         waterfall(results, new_lesion), tte_table(results),
                         swimmer(results, subtype)]
    if results.km.get("ipfs") is not None:
        blocks.append(km_figure(results, "ipfs", "Intracranial progression-free survival", 4))
    if results.km.get("os") is not None:
        blocks.append(km_figure(results, "os", "Overall survival", 5))
    # the (long, splittable) subgroup table before the page-tall forest plot, so that the
    # cumulative-incidence page is not left mostly blank
    blocks += [censoring_table(results), cif_figure(results), subgroup_ipfs_table(results),
               forest(results)]
    return Section("efficacy", "Efficacy", blocks)


# --------------------------------------------------------------------------- 7 safety
def safety_section(results: Any, labels: dict[str, str], dictionary: Any,
                   death_causes: pd.Series | None = None) -> Section:
    n = _n(results, "safety")
    ov = results.teae_overview
    overview = Table("teae-summary", "Table 17. Overview of treatment-emergent adverse events",
                     ["Patients with", f"Safety set (N = {n})"],
                     [[reader_text(str(c)), n_pct(int(k), n)]
                      for c, k in zip(ov["category"], ov["n"], strict=True)],
                     footnote="TEAE: onset from the first SG dose to 30 days after the last, "
                     "up to the cut-off. Each patient is counted once per row."
                     + overview_footnote(results))
    terms = results.teae_by_term
    common = terms[terms["pct_any"] >= 10]
    by_term = Table("teae-by-term", "Table 18. TEAEs by term (any grade ≥ 10% of patients)",
                    ["Term (CTCAE v5.0, pooled)", "Any grade", "Grade 3", "Grade 4", "Grade 5",
                     "Grade ≥ 3"], _term_rows(common, n),
                    footnote="Each patient counted once per term, at the highest grade; sorted "
                    "by frequency. Neutropenia, anaemia and leukopenia pool their CTCAE terms.")
    g3 = terms[terms["n_grade3plus"] > 0].sort_values("n_grade3plus", ascending=False)
    grade3 = Table("teae-grade3", "Table 19. Grade ≥ 3 TEAEs by term",
                   ["Term (CTCAE v5.0, pooled)", "Any grade", "Grade 3", "Grade 4", "Grade 5",
                    "Grade ≥ 3"], _term_rows(g3, n), empty_message="None reported.")
    g = results.gcsf
    gcsf = Table("gcsf", "Table 21. G-CSF use (safety set)", ["", f"Safety set (N = {n})"],
                 [[("    " if i else "") + str(c), n_pct(int(k), n)]
                  for i, (c, k) in enumerate(zip(g["category"], g["n"], strict=True))
                  if not missing_row(str(c), int(k))],
                 footnote="Primary prophylaxis: from cycle 1, before any neutropenia; "
                 "secondary: after a neutropenic event. A patient may count in several rows.")
    return Section("safety", "Safety", [overview, by_term, grade3, gcsf,
                                        lab_shift_table(results),
                                        *safety_listings(results, labels, dictionary,
                                                         death_causes)])


def overview_footnote(results: Any) -> str:
    """What the TEAE overview counts that the exposure table and the listings show
    differently (:func:`sgbm_redcap.analysis.safety.overview_gaps`), with the checks that
    query it; '' when the counts agree."""
    from sgbm_redcap.analysis.safety import overview_gaps

    ep = results.endpoints
    dead = ep.loc[(ep["endpoint"] == "os") & (ep["event"] == 1), "record_id"]
    gaps = overview_gaps(results.adverse_events, results.exposure, dead)
    notes = []
    if gaps["reduction_not_given"]:
        who = plural(gaps["reduction_not_given"], "patient")
        notes.append(f"Dose reduction: {who} with a TEAE whose action is 'dose reduced' "
                     "had received no reduced dose by the cut-off (the exposure table counts "
                     "reductions against the start dose); where SG was given again after the "
                     "event, or stopped, this is queried (AE-3: dose reduced for an adverse "
                     "event, no reduced dose given).")
    parts = []
    if gaps["grade5_not_dead"]:
        parts.append(f"{plural(gaps['grade5_not_dead'], 'patient')} not recorded as dead (not "
                     "in the death listing; AE-1: grade 5 adverse event implies death)")
    if gaps["grade5_not_serious"]:
        parts.append(f"{plural(gaps['grade5_not_serious'], 'patient')} with the event not "
                     "marked serious (not in the SAE listing; AE-4: grade 5 adverse event is "
                     "serious)")
    if parts:
        notes.append("Grade 5: " + " and ".join(parts) + "; queried.")
    return "".join(" " + n for n in notes)


def lab_shift_table(results: Any) -> Table:
    """Baseline CTCAE grade of the laboratory value (rows, per parameter) by the worst grade
    of a TEAE with the parameter's term (columns): not a laboratory shift table, since the
    CRF records laboratory values at baseline only; baseline grades no patient has are left
    out."""
    from sgbm_redcap.analysis.labs import WORST_LEVELS

    shifts = results.lab_shifts
    rows: list[list[str]] = []
    groups: set[int] = set()
    for parameter, part in shifts.groupby("parameter", sort=False):
        wide = part.pivot(index="baseline", columns="worst", values="n")
        wide = wide.loc[[b for b in part["baseline"].unique() if wide.loc[b].sum() > 0]]
        if wide.empty:
            continue
        groups.add(len(rows))
        rows.append([str(parameter)] + [""] * (len(WORST_LEVELS) + 1))
        for baseline, counts in wide.iterrows():
            label = "    Missing at baseline" if baseline == "Missing" else \
                f"    Grade {baseline} at baseline"
            rows.append([label, *(str(int(counts[g])) for g in WORST_LEVELS),
                         str(int(counts.sum()))])
    return Table("lab-shifts", "Table 22. Baseline laboratory grade by worst grade of the "
                 "matching treatment-emergent adverse event (safety set)",
                 ["Parameter (CTCAE v5.0)", *(f"AE grade {g}" for g in WORST_LEVELS),
                  "Total"],
                 rows, group_rows=frozenset(groups), empty_message="No safety set yet.",
                 footnote="Rows: the CTCAE v5.0 grade of the baseline laboratory value "
                 "against its LLN/ULN (missing: no value, unit or needed limit). Columns: the "
                 "highest grade of a treatment-emergent adverse event with the parameter's "
                 "CTCAE term, 0 when there was none. The CRF records laboratory values at "
                 "baseline only, so this is not a shift table of laboratory values. "
                 "Hypokalemia below the LLN but ≥ 3.0 mmol/L is graded 2 (worst case).")


def _term_rows(frame: pd.DataFrame, n: int) -> list[list[str]]:
    return [[str(r.term), n_pct(int(r.n_any), n), n_pct(int(r.n_grade3), n),
             n_pct(int(r.n_grade4), n), n_pct(int(r.n_grade5), n),
             n_pct(int(r.n_grade3plus), n)] for r in frame.itertuples(index=False)]


def _choice_labels(dictionary: Any, name: str) -> dict[str, str]:
    """code → label of a field, from ``dictionary`` (default: the study's)."""
    if dictionary is None:
        from sgbm_redcap.dictionary.project import study_project

        dictionary = study_project().dictionary
    return dict(dictionary.field(name).choices)


def safety_listings(results: Any, labels: dict[str, str], dictionary: Any,
                    cause: pd.Series | None = None) -> list[Table]:
    ae = results.adverse_events
    ae = ae[ae["teae"].astype(bool)]
    rel = _choice_labels(dictionary, "ae_relation")
    # the listing's narrow Outcome column says "Sequelae" for "Recovered with sequelae"
    outcome = {**_choice_labels(dictionary, "ae_outcome"), AeOutcome.SEQUELAE: "Sequelae"}
    view = ae.assign(site=ae["redcap_data_access_group"].map(lambda d: labels.get(str(d), d)),
                     relation=ae["ae_relation"].map(rel), outcome=ae["ae_outcome"].map(outcome),
                     grade_text=ae["grade"].map(lambda g: DASH if pd.isna(g) else f"{g:.0f}"))
    cols = [("record_id", "Record"), ("site", "Site"), ("term", "Term"),
            ("grade_text", "Grade"), ("ae_onset_date", "Onset"), ("ae_end_date", "End"),
            ("relation", "Relation to SG"), ("outcome", "Outcome")]
    by_record = {"key": lambda c: c.map(record_sort_key) if c.name == "record_id" else c}
    view = view.assign(**sae_details(view, dictionary))
    sae_cols = [*cols[:5], ("study_day", "Day"), ("seriousness", "Seriousness"),
                ("action", "Action with SG"), *cols[6:]]
    sae = listing_table(view[view["serious"].astype(bool)].sort_values(
        ["record_id", "ae_onset_date"], **by_record), columns=sae_cols, id="listing-sae",
        dictionary=dictionary, caption="Listing 1. Serious treatment-emergent adverse events",
        footnote="Day: study day of onset (day 1 = first SG dose). Seriousness: the criteria "
        "ticked on the adverse event form.")
    disc = listing_table(view[view["ae_action"] == AeAction.DISCONTINUED].sort_values(
                         ["record_id", "ae_onset_date"], **by_record),
                         columns=cols, id="listing-discontinuation", dictionary=dictionary,
                         caption="Listing 2. Adverse events leading to SG discontinuation")
    ep = results.endpoints
    safety = results.sets.loc[results.sets["safety"], "record_id"]
    dead = ep[(ep["endpoint"] == "os") & (ep["event"] == 1) & ep["record_id"].isin(safety)]
    dead = dead.assign(site=dead["record_id"].map(
        results.sets.set_index("record_id")["redcap_data_access_group"]).map(
        lambda d: labels.get(str(d), d)),
        months=dead["months"].map(lambda m: f"{m:.1f}"))
    dead = dead.assign(**death_details(dead, results))
    columns = [("record_id", "Record"), ("site", "Site"), ("end_date", "Date of death"),
               ("months", "Months from SG start"), ("days_after_last_dose",
                                                    "Days after last dose"),
               ("within_30_days", "Within 30 days of last dose")]
    if cause is not None:
        dead = dead.assign(cause=dead["record_id"].map(cause))
        columns.append(("cause", "Cause"))
    deaths = listing_table(dead.sort_values("end_date"), columns=columns,
                           id="listing-deaths", dictionary=dictionary, wide=False,
                           caption="Listing 3. Deaths up to the cut-off (safety set)",
                           footnote="Within 30 days of last dose: death no more than 30 days "
                           "after the last SG dose given (the treatment-emergent window).")
    return [sae, disc, deaths]


