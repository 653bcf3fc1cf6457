"""The monthly report's sections and blocks added for issue 14 ("Missing today"): the
patient-flow diagram, adverse events by system organ class, AESI course, progression
pattern, time to response, OS by subgroup, time on treatment, dose intensity by cycle,
imaging intervals, the radiotherapy sensitivity analysis.

Every number comes from :mod:`sgbm_redcap.analysis`; this module lays them out and
:func:`add_sections` puts them where they belong in the report's sections.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from sgbm_redcap.analysis.baseline import INVALID_CODE, baseline_table
from sgbm_redcap.analysis.baseline_extra import baseline_extra
from sgbm_redcap.analysis.deaths import deaths
from sgbm_redcap.analysis.flow import PatientFlow, follow_up_end
from sgbm_redcap.analysis.outcomes import (
    dose_intensity_by_cycle,
    first_progression_pattern,
    os_by_subgroup,
    time_on_treatment,
    time_to_response,
)
from sgbm_redcap.analysis.sensitivity import (
    INTERVAL_BANDS,
    imaging_intervals,
    interval_summary,
    rt_sensitivity,
)
from sgbm_redcap.analysis.soc import GRADE_BANDS, aesi_table, teae_by_soc
from sgbm_redcap.analysis.subgroups import subgroup_membership
from sgbm_redcap.dictionary.model import checkbox_column
from sgbm_redcap.reports import figures
from sgbm_redcap.reports.contexts import Figure, Paragraph, Section, Table
from sgbm_redcap.reports.flow_figure import FlowRow, flow_figure
from sgbm_redcap.reports.formatting import (
    DASH,
    median_iqr,
    missing_row,
    n_pct,
    num,
    reader_text,
)
from sgbm_redcap.reports.monthly_summary import median_text, plural
from sgbm_redcap.study_codes import Checkbox

# --------------------------------------------------------------------------- patient flow
#: "n = " that never wraps inside a box
_N = "n\u00a0=\u00a0"


def _items(reasons: list[tuple[str, int]]) -> list[str]:
    return [f"• {_sentence(reason)}: {n}" for reason, n in reasons]


def _sentence(text: str) -> str:
    """A reason as readers see it: capital first letter, "≥" for ">="."""
    text = reader_text(text)
    return text[:1].upper() + text[1:]


def flow_rows(flow: PatientFlow) -> list[FlowRow]:
    """The diagram's boxes from the flow (each split shown with its reasons)."""
    not_eligible = [f"Not eligible ({_N}{flow.not_eligible.n})",
                    *_items(flow.not_eligible.reasons)]
    if flow.eligibility_unknown:
        not_eligible.append(f"Eligibility not recorded: {flow.eligibility_unknown}")
    eligible = [f"Eligible ({_N}{flow.eligible})"]
    if flow.enrolled != flow.eligible:
        eligible.append(f"with an enrolment date: {flow.enrolled}")
    return [
        FlowRow([f"Screened ({_N}{flow.screened})"], not_eligible),
        FlowRow(eligible, [f"Not treated ({_N}{flow.not_treated.n})",
                           *_items(flow.not_treated.reasons)]
                if flow.not_treated.n else None),
        FlowRow([f"Treated with SG ({_N}{flow.treated})", "≥ 1 dose: safety set"],
                [f"Excluded from the full analysis set ({_N}{flow.not_fas.n})",
                 *_items(flow.not_fas.reasons)] if flow.not_fas.n else None,
                [f"Status at the cut-off ({_N}{flow.treated})",
                 f"Still on SG: {flow.on_treatment}",
                 f"Stopped SG: {flow.stopped.n}", *_items(flow.stopped.reasons)]),
        FlowRow([f"Full analysis set ({_N}{flow.fas})"],
                [f"Not response-evaluable ({_N}{flow.not_ires.n})",
                 *_items(flow.not_ires.reasons)] if flow.not_ires.n else None),
        FlowRow([f"Response-evaluable set ({_N}{flow.ires})", "iORR denominator"]),
    ]


def flow_block(flow: PatientFlow) -> Figure:
    problems = flow.check()
    note = ("Each box counts patients; every split adds up to the box above it. Reasons for "
            "non-eligibility are the sites' own words; reasons for stopping SG are those of "
            "the end-of-treatment form.")
    if problems:
        note += " These counts do not add up: " + "; ".join(problems) + "."
    return Figure("fig-flow", "Figure 1. Patient flow from screening to the analysis sets",
                  flow_figure(flow_rows(flow), figure_id="flow"), note)


def follow_up_end_table(rows: list[tuple[str, int, bool]], n: int) -> Table:
    return Table("follow-up-end", "Table 3a. End of follow-up (safety set)",
                 ["Follow-up", f"Safety set (N = {n})"],
                 [[("    " if sub else "") + label, n_pct(k, n)] for label, k, sub in rows],
                 footnote="Died: death recorded by the cut-off. Lost to follow-up: as recorded "
                 "by the site. The indented rows add up to the patients still in follow-up.")


# --------------------------------------------------------------------------- safety
def soc_table(by_soc: pd.DataFrame, n: int) -> Table:
    """TEAEs by SOC (bold rows) and term (indented), patients at their highest grade."""
    rows = []
    for r in by_soc.itertuples(index=False):
        label = str(r.soc) if not r.term else f"    {r.term}"
        rows.append([label, n_pct(r.n_any, n),
                     *[n_pct(getattr(r, c), n) for c, _, _ in GRADE_BANDS]])
    missing = int(by_soc.loc[by_soc["term"] == "", "n_grade_missing"].sum()) \
        if len(by_soc) else 0
    note = ("Treatment-emergent adverse events of the safety set. Each patient is counted "
            "once per system organ class and once per term, at the highest grade there, so "
            "the grade columns add up to the any-grade column. System organ class of each "
            "CTCAE v5.0 term as in the study's term list; neutropenia, anaemia and "
            "leukopenia pool their CTCAE terms.")
    if missing:
        note += (f" {plural(missing, 'patient')} in a class had no grade recorded: counted "
                 "under any grade only.")
    return Table("teae-by-soc", "Table 18a. TEAEs by system organ class and term (CTCAE "
                 "v5.0)", ["System organ class / term", "Any grade",
                           *[label for _, label, _ in GRADE_BANDS]], rows,
                 footnote=note, empty_message="No treatment-emergent adverse event.")


def _range(median: float, low: float, high: float) -> str:
    if pd.isna(median):
        return DASH
    return f"{median:g} ({low:g}–{high:g})"


def aesi_block(aesi: pd.DataFrame, n: int) -> Table:
    rows = [[str(r.aesi) + ("" if r.prespecified else " (flagged by the site)"),
             n_pct(r.n, n), str(r.n_grade3plus),
             _range(r.onset_median, r.onset_min, r.onset_max),
             f"{r.resolved}/{r.episodes}" if r.episodes else DASH,
             _range(r.duration_median, r.duration_min, r.duration_max)]
            for r in aesi.itertuples(index=False)]
    return Table("aesi", "Table 20. Adverse events of special interest: incidence, onset, "
                 "duration and resolution",
                 ["AESI", "Patients", "Grade ≥ 3", "First onset, day", "Resolved",
                  "Duration, days"], rows, wide=True,
                 footnote="Every pre-specified AESI is listed, with 0 when none occurred. "
                 "Patients: n (%) of the safety set; grade ≥ 3: patients whose worst episode "
                 "was grade ≥ 3. First onset: median (range) day of a patient's first "
                 "episode, day 1 = first SG dose. Resolved: episodes resolved by the cut-off "
                 "of all episodes; duration: median (range) of the resolved ones. An episode is one treatment-emergent adverse event; "
                 "it is resolved when its end date is on or before the cut-off and lasts "
                 "from onset to end date inclusive; an episode not resolved by the cut-off "
                 "has no duration yet.")


# --------------------------------------------------------------------------- efficacy
def progression_table(pattern: pd.DataFrame, n_fas: int) -> Table:
    progressed = int(pattern.loc[pattern["progressed"], "n"].sum())
    rows = [["Progressed by the cut-off", n_pct(progressed, n_fas)]]
    rows += [[f"    {r.pattern}", n_pct(int(r.n), n_fas)]
             for r in pattern[pattern["progressed"]].itertuples(index=False)]
    rows += [[str(r.pattern), n_pct(int(r.n), n_fas)]
             for r in pattern[~pattern["progressed"]].itertuples(index=False)]
    rows = [r for r in rows if not missing_row(r[0], int(r[1].split(" ")[0]))]
    return Table("first-pd-pattern", "Table 16a. Pattern of first progression (full analysis "
                 "set)", ["First progression", f"FAS (N = {n_fas})"], rows,
                 footnote="As recorded by the site (pattern of first progression) for the "
                 "patients with an intracranial or extracranial progression dated by the "
                 "cut-off; the indented rows add up to the patients who progressed.")


def response_time_table(ttr: pd.DataFrame, n_ires: int) -> Table:
    m = ttr["months"]
    rows = [["Confirmed responders", f"{len(ttr)} of {n_ires}"],
            ["Time to response, months, median (IQR)", median_iqr(m)],
            ["Range, months", DASH if m.empty else f"{m.min():.1f}–{m.max():.1f}"]]
    return Table("time-to-response", "Table 16b. Time to intracranial response (confirmed "
                 "responders)", ["", "Response-evaluable set"], rows,
                 footnote="From SG start (day 1) to the first assessment of CR or PR of a "
                 "confirmed response (RANO-BM). Responders only: not a time-to-event "
                 "estimate for the whole set.")


def subgroup_rows(frame: pd.DataFrame, endpoint: str
                  ) -> tuple[list[list[str]], frozenset[int]]:
    """The rows of a by-subgroup table of ``endpoint`` (``"ipfs"`` or ``"os"``, the column
    prefix of ``analysis.efficacy`` subgroup estimates): a heading row per subgroup, then one
    row per level (level, N, events, median with 95% CI, HR with 95% CI), and the indices of
    the heading rows."""
    rows: list[list[str]] = []
    groups: set[int] = set()
    for subgroup, part in frame.groupby("subgroup", sort=False):
        groups.add(len(rows))
        rows.append([str(subgroup), "", "", "", ""])
        for r in part.to_dict("records"):
            median, lower, upper = (r[f"{endpoint}_{k}"] for k in ("median", "lower", "upper"))
            if pd.isna(median) and r["flag"]:
                med = "not estimated †"
            elif pd.isna(median):
                med = DASH
            else:
                med = f"{num(median)} ({num(lower)}–{num(upper)})"
            hr, hr_lower, hr_upper = (r[f"{endpoint}_{k}"] for k in ("hr", "hr_lower", "hr_upper"))
            if r["hr_reference"]:
                shown = "1 (reference)"
            elif pd.isna(hr):
                shown = DASH
            else:
                shown = f"{hr:.2f} ({hr_lower:.2f}–{hr_upper:.2f})"
            rows.append([reader_text(str(r["level"])), str(r["n_fas"]),
                         str(r[f"{endpoint}_events"]), med,
                         shown])
    return rows, frozenset(groups)


def os_subgroup_table(est: pd.DataFrame, options: Any) -> Table:
    """``options``: the analysis options whose minimum patients/deaths suppressed a level."""
    rows, groups = subgroup_rows(est, "os")
    return Table("subgroup-os", "Table 17a. Median overall survival by subgroup (full "
                 "analysis set)", ["Subgroup", "N", "Deaths", "Median OS, months (95% CI)",
                                   "HR (95% CI)"], rows, group_rows=groups,
                 footnote="Kaplan–Meier medians, log-log CI; NR = not reached. † Not "
                 f"estimated: fewer than {options.min_patients} patients or "
                 f"{options.min_events} deaths. HR: Cox model (Efron ties, "
                 "Wald CI) of the second level against the first, for subgroups of two "
                 "levels; descriptive only.")


def tot_figure(frame: pd.DataFrame, km: Any) -> Figure | Paragraph:
    if km is None:
        return Paragraph("Time on treatment: no patient has received SG by the cut-off.",
                         "note")
    curve = figures.SurvivalCurve("Safety set", frame["months"].to_numpy(float),
                                  frame["event"].to_numpy(int),
                                  table=None if km is None else km.table)
    return Figure("fig-km-tot", "Figure 7a. Time on treatment (Kaplan–Meier)",
                  figures.km_figure([curve], ylabel="On SG (%)", figure_id="km-tot"),
                  "Safety set, from the first dose; stopping SG for any reason is the event "
                  "(at the last dose), patients still on SG are censored at the cut-off. "
                  f"Median {median_text(km)}.")


def dose_cycle_table(by_cycle: pd.DataFrame) -> Table:
    rows = [[str(r.cycle), str(r.patients), num(r.delivered_median),
             f"{100 * r.rdi_median:.0f} ({100 * r.rdi_q1:.0f}–{100 * r.rdi_q3:.0f})",
             n_pct(r.delayed, r.patients), n_pct(r.omitted, r.patients),
             n_pct(r.reduced, r.patients)] for r in by_cycle.itertuples(index=False)]
    return Table("dose-by-cycle", "Table 11a. Dose intensity by cycle (safety set)",
                 ["Cycle", "Patients", "mg/kg given, median", "RDI, %, median (IQR)",
                  "Dose delayed", "Dose omitted", "Below starting dose"], rows, wide=True,
                 footnote="Patients with ≥ 1 dose given in the cycle; the last three columns "
                 "count patients with ≥ 1 such dose in it. Dose given from the dose levels "
                 "(10, 7.5 or 5 mg/kg); RDI (relative dose intensity): given "
                 "over the planned 20 mg/kg per 21-day cycle (days 1 and 8). Later cycles "
                 "are pooled in the last row (each patient-cycle counted once). Below the "
                 "starting dose: a dose given at a lower level than the patient's first.",
                 empty_message="No SG dose recorded.")


def interval_table(summary: pd.DataFrame, labels: dict[str, str]) -> Table:
    rows = []
    for r in summary.to_dict("records"):
        site = "All sites" if r["site"] is None else labels.get(str(r["site"]), str(r["site"]))
        n = r["intervals"]
        rows.append([site, str(r["patients"]), str(n),
                     DASH if not n else f"{r['median']:.0f} ({r['q1']:.0f}–{r['q3']:.0f})",
                     *[n_pct(r[label], n) for label, _, _ in INTERVAL_BANDS]])
    return Table("imaging-intervals", "Table 16c. Intervals between brain scans, by site "
                 "(full analysis set)", ["Site", "Patients", "Intervals",
                                        "Days, median (IQR)",
                                        *[label for label, _, _ in INTERVAL_BANDS]], rows,
                 footnote="Days between consecutive intracranial assessments of a patient, "
                 "from the baseline scan on, up to the cut-off. Long or irregular intervals "
                 "delay the detection of progression and bias iPFS upwards; iPFS events "
                 "after more than 16 weeks without a scan are censored at the last "
                 "adequate assessment.", empty_message="No follow-up scan yet.")


#: short row labels of the sensitivity table, by the analysis' row name
RT_ROWS = {"All patients (primary analysis)": "All patients (primary analysis)",
           "Excluding brain radiotherapy < 4 weeks before SG": "Without radiotherapy "
           "< 4 weeks before SG", "Brain radiotherapy < 4 weeks before SG only":
           "Radiotherapy < 4 weeks before SG only"}


def rt_table(sens: pd.DataFrame) -> Table:
    rows = []
    for r in sens.itertuples(index=False):
        p, km = r.iorr, r.ipfs
        rows.append([RT_ROWS.get(r.analysis, str(r.analysis)),
                     f"{p.x}/{p.n}" if p.n else "0/0",
                     f"{100 * p.estimate:.1f} ({100 * p.lower:.1f}–{100 * p.upper:.1f})"
                     if p.n else "NE (no patient)", str(r.n_fas),
                     str(km.events) if km is not None else "0",
                     km.median_text() if km is not None and km.events else
                     "NE (no event)"])
    unknown = sens.attrs.get("unknown_timing", 0)
    note = ("iORR: confirmed, response-evaluable set, exact (Clopper–Pearson) 95% CI; iPFS: "
            "full analysis set, Kaplan–Meier median with 95% CI; NR = not reached. Brain "
            "radiotherapy: SRS, fractionated SRT, WBRT or hippocampal-avoidance WBRT ending "
            "(without an end date: starting) less than 28 days before SG start. Radiation "
            "effects (response and pseudo-response) cannot be told from an SG effect in these "
            "patients; a published SG series saw all CNS responses in patients irradiated "
            "less than a month before SG.")
    if unknown:
        note += (f" {plural(unknown, 'patient')} with brain radiotherapy of unknown date "
                 "stay in the analysis without them.")
    return Table("rt-sensitivity", "Table 16d. Sensitivity analysis: excluding brain "
                 "radiotherapy within 4 weeks before SG",
                 ["Analysis", "iORR, n/N", "iORR, % (95% CI)", "iPFS, N", "iPFS events",
                  "Median iPFS, months (95% CI)"], rows, footnote=note)


# --------------------------------------------------------------------------- baseline
#: the subtype columns of the baseline table: subgroup level -> heading
SUBTYPE_COLUMNS = {"HR+/HER2−": "HR+/HER2−", "TNBC": "TNBC"}


def baseline_columns(membership: pd.DataFrame, results: Any) -> list[tuple[str, list[str]]]:
    """(heading, record ids): the FAS, then its patients of each main subtype."""
    fas = results.sets.loc[results.sets["fas"], "record_id"].tolist()
    subtype = membership.set_index("record_id")["Subtype"]
    out = [("FAS", fas)]
    for level, heading in SUBTYPE_COLUMNS.items():
        out.append((heading, [i for i in fas if subtype.get(i) == level]))
    return out


def baseline_by_subtype_table(study: Any, results: Any, membership: pd.DataFrame) -> Table:
    """The baseline characteristics with the DOMAIN §6.2 additions, FAS (the analysis'
    ``results.baseline``) and by subtype."""
    columns = baseline_columns(membership, results)
    frames = [pd.concat([results.baseline if i == 0 else baseline_table(study, ids),
                         baseline_extra(study, ids)], ignore_index=True)
              for i, (_, ids) in enumerate(columns)]
    rows: list[list[str]] = []
    groups: set[int] = set()
    first = frames[0]
    for variable in dict.fromkeys(first["variable"]):
        parts = [f[f["variable"] == variable] for f in frames]
        levels = list(dict.fromkeys(lv for part in parts for lv in part["level"]))
        groups.add(len(rows))
        rows.append([str(variable), *[""] * len(frames)])
        for level in levels:
            cells = []
            for part in parts:
                hit = part[part["level"] == level]
                cells.append(str(hit["value"].iloc[0]) if len(hit) else "0")
            rows.append([f"    {level}", *cells])
        blank = next((str(x) for x in first.loc[first["variable"] == variable,
                                                 "missing_label"].dropna()), "Missing") \
            if "missing_label" in first.columns else "Missing"
        for column, label in (("n_missing", blank), ("n_not_applicable", "Not applicable")):
            counts = [_first_count(part, column) for part in parts]
            if any(counts):
                rows.append([f"    {label}", *[str(m) for m in counts]])
    invalid = any((f["level"] == INVALID_CODE).any() for f in frames)
    return Table("baseline-table", "Table 9. Baseline characteristics (full analysis set and by "
                 "subtype)", ["Characteristic", *[f"{h} (N = {len(ids)})" for h, ids in columns]],
                 rows, group_rows=frozenset(groups),
                 footnote="n (%) of each column; continuous variables as median (IQR; range). "
                 "A Missing row is shown where a value is missing for a patient who should "
                 "have it; Not applicable: the question is not asked for the patient (e.g. "
                 "the dexamethasone dose of a patient not on a corticosteroid); "
                 "“(missing data code)”: the site entered the reason the value cannot be known "
                 "(e.g. Not done) instead of a value; the analyses read it as missing. "
                 + (f"{INVALID_CODE}: a stored value that is not one of the field's choices "
                    "(a data query is raised for it). " if invalid else "")
                 + "Subtype at SG start (HR+/HER2− and TNBC, the study's main "
                 "stratifier); patients of other subtypes are in the FAS column only. Local "
                 "CNS therapy: a patient with several types of course counts in each. The "
                 "breast GPA is not shown: its factor points are not yet verified.")


def _first_count(part: pd.DataFrame, column: str) -> int:
    """A per-variable count of the long baseline frame (on the variable's first row)."""
    if column not in part.columns or not part[column].notna().any():
        return 0
    return int(part[column].dropna().iloc[0])


# --------------------------------------------------------------------------- listings
def sae_details(ae: pd.DataFrame, dictionary: Any) -> dict[str, pd.Series]:
    """Columns the serious-AE listing adds: study day of onset (day 1 = first dose), the
    seriousness criteria ticked (their labels, in dictionary order) and the action taken
    with SG (its label); ``dictionary`` gives the labels (default: the study's)."""
    if dictionary is None:
        from sgbm_redcap.dictionary.project import study_project

        dictionary = study_project().dictionary
    criteria = dictionary.field("ae_sae_criteria").choices
    actions = dictionary.field("ae_action").choices
    ticked = [[] for _ in range(len(ae))]
    for code, label in criteria.items():
        column = checkbox_column("ae_sae_criteria", code)
        if column in ae.columns:
            for i, hit in enumerate((ae[column] == Checkbox.CHECKED).to_numpy()):
                if hit:
                    ticked[i].append(label)
    seriousness = pd.Series(["; ".join(t) or "Not recorded" for t in ticked], index=ae.index)
    day = ae["onset_day"].map(lambda d: DASH if pd.isna(d) else f"{d:.0f}")
    return {"study_day": day, "seriousness": seriousness,
            "action": ae["ae_action"].map(lambda c: actions.get(c, "Not recorded")
                                          if c is not None and not pd.isna(c)
                                          else "Not recorded")}


def death_details(dead: pd.DataFrame, results: Any) -> dict[str, pd.Series]:
    """Columns the death listing adds: days from the last SG dose to death and the flag of
    a death within 30 days of it (:mod:`sgbm_redcap.analysis.deaths`)."""
    safety = results.sets.loc[results.sets["safety"], "record_id"].tolist()
    d = deaths(results.endpoints, results.exposure, safety).set_index("record_id")
    days = dead["record_id"].map(d["days_after_last_dose"])
    flag = dead["record_id"].map(d["within_30_days"])
    return {"days_after_last_dose": days.map(lambda v: DASH if pd.isna(v) else f"{v:.0f}"),
            "within_30_days": flag.map(lambda v: "Yes" if v is True else "No")}


# --------------------------------------------------------------------------- assemble
def _insert(section: Section, blocks: list[Any], *, after: str | None = None,
            before: str | None = None) -> None:
    ids = [getattr(b, "id", None) for b in section.blocks]
    if before in ids:
        at = ids.index(before)
    elif after in ids:
        at = ids.index(after) + 1
    else:
        at = len(section.blocks)
    section.blocks[at:at] = blocks


def add_sections(sections: list[Section], *, flow: PatientFlow, results: Any, study: Any,
                 labels: dict[str, str]) -> dict[str, Any]:
    """Put the new blocks into the report's ``sections`` (by section and block id): the
    baseline table by subtype, the AESI table, and the blocks no other section builder has.
    Returns the analyses the executive summary also words (``rt_sensitivity``)."""
    by_id = {s.id: s for s in sections}
    membership = subgroup_membership(study)
    facts: dict[str, Any] = {"rt_sensitivity": rt_sensitivity(study, results, membership)}
    n_safety = int(results.set_counts.get("safety", 0))
    safety_ids = results.sets.loc[results.sets["safety"], "record_id"].tolist()
    if "study-status" in by_id:
        _insert(by_id["study-status"], [flow_block(flow)], before="screening-flow")
    if "baseline" in by_id:
        _insert(by_id["baseline"], [baseline_by_subtype_table(study, results, membership)])
    if "follow-up" in by_id:
        _insert(by_id["follow-up"], [follow_up_end_table(
            follow_up_end(study, results.endpoints, safety_ids, results.cutoff), n_safety)],
            after="followup-status")
    if "exposure" in by_id:
        frame, km = time_on_treatment(results.exposure, results.cutoff)
        _insert(by_id["exposure"], [dose_cycle_table(dose_intensity_by_cycle(study,
                                                                            safety_ids)),
                                    tot_figure(frame, km)])
    if "efficacy" in by_id:
        fas = results.sets.loc[results.sets["fas"], "record_id"].tolist()
        section = by_id["efficacy"]
        _insert(section, [os_subgroup_table(os_by_subgroup(study, results, membership),
                                            results.options),
                          progression_table(first_progression_pattern(study, fas), len(fas)),
                          response_time_table(time_to_response(results),
                                              int(results.set_counts.get("ires", 0))),
                          interval_table(interval_summary(imaging_intervals(results)),
                                         labels),
                          rt_table(facts["rt_sensitivity"])])
    if "safety" in by_id:
        section = by_id["safety"]
        ae = results.adverse_events
        _insert(section, [soc_table(teae_by_soc(ae), n_safety),
                          aesi_block(aesi_table(ae, n_safety, results.cutoff), n_safety)],
                after="teae-grade3")
    return facts
