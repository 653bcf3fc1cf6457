"""Study consistency rules: dose levels, the baseline brain scan, RANO-BM plausibility of the
investigator's call, vital status and last contact, fatal adverse events."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sgbm_redcap.checks.context import CheckContext
from sgbm_redcap.checks.findings import hits
from sgbm_redcap.checks.registry import REGISTRY
from sgbm_redcap.study_codes import (
    AeGrade,
    AeOutcome,
    AssessmentType,
    ClinicalStatus,
    DoseLevel,
    LmdAssessment,
    NewLesion,
    NonTarget,
    Response,
    VitalStatus,
)

#: RANO-BM: the baseline scan is "no more than 4 weeks before" treatment (DOMAIN.md §1.1).
BASELINE_SCAN_WINDOW_DAYS = 28
#: Vital status must be confirmed at least this often (days without contact).
MAX_DAYS_WITHOUT_CONTACT = 90
#: RANO-BM target-lesion thresholds (DOMAIN.md §1.4).
PR_DECREASE = 0.30
PD_INCREASE = 0.20
PD_ABSOLUTE_MM = 5.0
TARGET_FIELDS = [f"ia_tl{i}_ld" for i in range(1, 6)]
#: the words the queries' messages use for the investigator's call and the dose levels (short
#: forms of the dictionary labels, as sites read them in a query)
RANO_WORDS = {Response.CR: "CR", Response.PR: "PR", Response.SD: "SD", Response.PD: "PD",
              Response.NE: "NE", Response.NON_CR_NON_PD: "non-CR/non-PD"}
DOSE_WORDS = {DoseLevel.MG_10: "10 mg/kg", DoseLevel.MG_7_5: "7.5 mg/kg",
              DoseLevel.MG_5: "5 mg/kg"}
_CALLED_PROGRESSING = (Response.PD, Response.NE)  # calls that never become the nadir


# -- treatment ----------------------------------------------------------------------------------
@REGISTRY.rule("DOSE-1", title="SG dose level never re-escalates", severity="error",
               category="treatment", form="sg_administration", field="adm_dose_level",
               repeating=True,
               message="Dose level {value_words} on {date} is higher than the {previous} given "
                       "at an earlier administration. SG doses are not re-escalated after a "
                       "reduction: please check the dose level.")
def dose_re_escalation(ctx: CheckContext) -> pd.DataFrame:
    """Once the SG dose has been reduced (10 → 7.5 → 5 mg/kg), later administrations stay at
    the reduced level or lower. Administrations are ordered by cycle and day (the treatment
    sequence), then date."""
    rows = ctx.form_rows("sg_administration")
    level = ctx.number("sg_administration", "adm_dose_level")
    order = pd.DataFrame({
        "record_id": rows["record_id"], "date": ctx.date("sg_administration", "adm_date"),
        "cycle": ctx.number("sg_administration", "adm_cycle"),
        "day": ctx.number("sg_administration", "adm_day"), "instance": rows["instance"],
        "level": level,
    }).dropna(subset=["level"]).sort_values(["record_id", "cycle", "day", "date", "instance"])
    lowest_so_far = order.groupby("record_id")["level"].cummax()
    previous = lowest_so_far.groupby(order["record_id"]).shift(1)
    bad_idx = order.index[(order["level"] < previous).to_numpy()]
    bad = pd.Series(False, index=rows.index)
    bad[bad_idx] = True
    prev = pd.Series(np.nan, index=rows.index)
    prev[order.index] = previous
    words = ctx.text("sg_administration", "adm_dose_level")
    return hits(rows, bad, field="adm_dose_level",
                value_words=words.map(DOSE_WORDS).fillna(words),
                date=ctx.text("sg_administration", "adm_date"),
                previous=prev.map(lambda x: DOSE_WORDS.get(str(int(x)), "") if x == x else ""))


@REGISTRY.rule("DOSE-2", title="SG administrations dated in cycle order", severity="error",
               category="treatment", form="sg_administration", field="adm_date",
               repeating=True,
               message="The administration of cycle {cycle} day {day} is dated {value}, not after "
                       "the administration of cycle {previous_cycle} day {previous_day} "
                       "({previous_date}). Please check the dates, cycles and days of both.")
def administrations_out_of_cycle_order(ctx: CheckContext) -> pd.DataFrame:
    """In cycle and day order (C1D1, C1D8, C2D1, ...) each administration is dated after the
    one before it; one that is not points at a mistyped date, cycle or day (the later of the
    two is queried, naming both). An administration dated before SG start is left to DATE-4
    (one problem, one query)."""
    rows = ctx.form_rows("sg_administration")
    dates = ctx.date("sg_administration", "adm_date")
    start = rows["record_id"].map(
        pd.Series(ctx.date("sg_treatment", "sg_start_date").to_numpy(),
                  index=ctx.form_rows("sg_treatment")["record_id"].to_numpy()))
    order = pd.DataFrame({
        "record_id": rows["record_id"], "date": dates,
        "cycle": ctx.number("sg_administration", "adm_cycle"),
        "day": ctx.number("sg_administration", "adm_day"), "instance": rows["instance"],
    }).dropna(subset=["date", "cycle", "day"]).sort_values(
        ["record_id", "cycle", "day", "instance"])
    previous = order.groupby("record_id")[["date", "cycle", "day"]].shift(1)
    late = (order["date"] <= previous["date"]).to_numpy() & ~(
        order["date"] < start[order.index]).to_numpy()
    bad = pd.Series(False, index=rows.index)
    bad[order.index[late]] = True

    def words(values: pd.Series) -> pd.Series:
        out = pd.Series("", index=rows.index, dtype=object)
        known = values.dropna()
        out[known.index] = known.map(lambda v: f"{v:g}" if isinstance(v, float)
                                     else v.strftime("%Y-%m-%d"))
        return out

    return hits(rows, bad, field="adm_date", value=ctx.text("sg_administration", "adm_date"),
                cycle=ctx.text("sg_administration", "adm_cycle"),
                day=ctx.text("sg_administration", "adm_day"),
                previous_cycle=words(previous["cycle"]), previous_day=words(previous["day"]),
                previous_date=words(previous["date"]))


@REGISTRY.rule("SCAN-1", title="Baseline brain scan within the window before SG start",
               severity="error", category="response", form="intracranial_assessment",
               field="ia_date",
               message="No baseline brain assessment (type baseline) is recorded within 28 days "
                       "before the SG start date ({start}). Please enter the baseline scan with "
                       "its lesion measurements, or correct its date or type.")
def baseline_scan_window(ctx: CheckContext) -> pd.DataFrame:
    """RANO-BM needs a baseline brain MRI/CT no more than 4 weeks (28 days) before SG start:
    an intracranial assessment of type baseline must fall in [SG start − 28 days, SG start].
    Without it no response can be assessed. The query points at the form, instance 0."""
    rows = ctx.base
    start = ctx.date("sg_treatment", "sg_start_date")
    ia = ctx.form_rows("intracranial_assessment")
    ia_date = ctx.date("intracranial_assessment", "ia_date")
    is_bl = ctx.text("intracranial_assessment", "ia_type") == AssessmentType.BASELINE
    ia_start = ia["record_id"].map(pd.Series(start.to_numpy(), index=rows["record_id"]))
    ia_ok = is_bl & (ia_date <= ia_start) & (
        ia_date >= ia_start - pd.Timedelta(days=BASELINE_SCAN_WINDOW_DAYS))
    ok = rows["record_id"].isin(set(ia.loc[ia_ok.to_numpy(), "record_id"]))
    h = hits(rows, start.notna() & ~ok, field="ia_date", value="",
             start=ctx.text("sg_treatment", "sg_start_date"))
    return h


# -- RANO-BM plausibility -------------------------------------------------------------------------
def rano_frame(ctx: CheckContext) -> pd.DataFrame:
    """Intracranial assessments (form-row order) with their SLD, the baseline SLD, the nadir
    SLD before each assessment and the largest single-lesion increase over the nadir scan.

    The nadir is the smallest SLD on study, baseline included (RANO-BM); a scan called PD or
    NE does not become the nadir. Computed once per check run (cached on the context)."""
    if "rano_frame" in ctx.cache:
        return ctx.cache["rano_frame"]  # type: ignore[return-value]
    rows = ctx.form_rows("intracranial_assessment")
    lds = np.column_stack([ctx.number("intracranial_assessment", f).to_numpy(dtype=float)
                           for f in TARGET_FIELDS]) if len(rows) else np.zeros((0, 5))
    f = pd.DataFrame({
        "record_id": rows["record_id"], "instance": rows["instance"],
        "date": ctx.date("intracranial_assessment", "ia_date"),
        "baseline": ctx.text("intracranial_assessment", "ia_type") == AssessmentType.BASELINE,
        "sld": pd.DataFrame(lds).sum(axis=1, min_count=1).to_numpy(),
        "call": ctx.text("intracranial_assessment", "ia_rano_inv"),
        "new_lesion": ctx.text("intracranial_assessment", "ia_new_lesion"),
        "nontarget": ctx.text("intracranial_assessment", "ia_nontarget"),
        "lmd": ctx.text("intracranial_assessment", "ia_lmd"),
        "clinical": ctx.text("intracranial_assessment", "ia_clinical"),
    })
    order = f.sort_values(["record_id", "baseline", "date", "instance"],
                          ascending=[True, False, True, True]).index.to_numpy()
    base_sld = np.full(len(f), np.nan)
    nadir_sld = np.full(len(f), np.nan)
    increase = np.full(len(f), np.nan)
    rid = f["record_id"].to_numpy()
    is_bl = f["baseline"].to_numpy()
    sld = f["sld"].to_numpy(dtype=float)
    call = f["call"].to_numpy()
    current, b_sld, n_sld, n_les = None, np.nan, np.nan, None
    for i in order:
        if rid[i] != current:
            current, b_sld, n_sld, n_les = rid[i], np.nan, np.nan, None
        if is_bl[i]:  # the last baseline scan before SG is the reference
            b_sld, n_sld, n_les = sld[i], sld[i], lds[i]
            base_sld[i] = b_sld
            continue
        base_sld[i], nadir_sld[i] = b_sld, n_sld
        if n_les is not None:
            diff = lds[i] - n_les
            increase[i] = np.nanmax(diff) if np.isfinite(diff).any() else np.nan
        if (call[i] not in _CALLED_PROGRESSING and sld[i] == sld[i]
                and not (sld[i] >= n_sld)):
            n_sld, n_les = sld[i], lds[i]
    f["baseline_sld"], f["nadir"], f["largest_increase"] = base_sld, nadir_sld, increase
    ctx.cache["rano_frame"] = f
    return f


def _meets_pd(f: pd.DataFrame) -> pd.Series:
    by_size = (f["sld"] >= (1 + PD_INCREASE) * f["nadir"]) & (
        f["largest_increase"] >= PD_ABSOLUTE_MM)
    return by_size.fillna(False) | (f["new_lesion"] == NewLesion.YES)


def _other_progression(f: pd.DataFrame) -> pd.Series:
    """Non-target or leptomeningeal progression, or clinical worsening."""
    return ((f["nontarget"] == NonTarget.PROGRESSION) | (f["lmd"] == LmdAssessment.PROGRESSION)
            | (f["clinical"] == ClinicalStatus.WORSE))


@REGISTRY.rule("RANO-1", title="Partial response needs a 30% decrease from baseline",
               severity="error", category="response", form="intracranial_assessment",
               field="ia_rano_inv", repeating=True,
               message="The response is recorded as PR but the sum of target lesion diameters "
                       "({sld} mm) is not at least 30% below baseline ({baseline_sld} mm). "
                       "Please check the measurements or the RANO-BM response.")
def pr_without_decrease(ctx: CheckContext) -> pd.DataFrame:
    """RANO-BM PR requires the sum of longest diameters (SLD) of the target lesions to be at
    least 30% below the baseline SLD. A PR with no measurable baseline is also queried."""
    f = rano_frame(ctx)
    rows = ctx.form_rows("intracranial_assessment")
    bad = ((f["call"] == Response.PR) & f["baseline_sld"].notna()
           & ~(f["sld"] <= (1 - PR_DECREASE) * f["baseline_sld"] + 1e-9))
    return hits(rows, bad, field="ia_rano_inv", value=f["call"],
                sld=f["sld"].fillna(-1).map(_mm), baseline_sld=f["baseline_sld"].map(_mm))


@REGISTRY.rule("RANO-2", title="Progression needs growth from nadir or a new lesion",
               severity="error", category="response", form="intracranial_assessment",
               field="ia_rano_inv", repeating=True,
               message="The response is recorded as PD but the target lesions ({sld} mm) did "
                       "not grow by 20% and 5 mm from the nadir ({nadir} mm), and no new lesion, "
                       "non-target or leptomeningeal progression or clinical worsening is "
                       "recorded. Please check the assessment.")
def pd_without_growth(ctx: CheckContext) -> pd.DataFrame:
    """RANO-BM PD requires the SLD ≥20% above the nadir with at least one lesion ≥5 mm larger,
    or a new lesion, or unequivocal non-target or leptomeningeal progression, or clinical
    worsening."""
    f = rano_frame(ctx)
    rows = ctx.form_rows("intracranial_assessment")
    justified = _meets_pd(f) | _other_progression(f)
    bad = (f["call"] == Response.PD) & ~justified & f["nadir"].notna()
    return hits(rows, bad, field="ia_rano_inv", value=f["call"], sld=f["sld"].map(_mm),
                nadir=f["nadir"].map(_mm))


@REGISTRY.rule("RANO-3", title="Progression by measurement not called", severity="error",
               category="response", form="intracranial_assessment", field="ia_rano_inv",
               repeating=True,
               message="The response is recorded as {call} but the assessment meets RANO-BM "
                       "progression (target lesions {sld} mm vs nadir {nadir} mm, new lesion: "
                       "{new}). Please check the measurements or the response.")
def missed_progression(ctx: CheckContext) -> pd.DataFrame:
    """An assessment whose measurements meet RANO-BM PD (SLD ≥20% over the nadir with one
    lesion ≥5 mm larger, or an unequivocal new lesion) cannot be called CR, PR, SD or
    non-CR/non-PD."""
    f = rano_frame(ctx)
    rows = ctx.form_rows("intracranial_assessment")
    bad = (f["call"].isin([Response.CR, Response.PR, Response.SD, Response.NON_CR_NON_PD])
           & _meets_pd(f) & ~f["baseline"])
    return hits(rows, bad, field="ia_rano_inv", value=f["call"],
                call=f["call"].map(RANO_WORDS).fillna(""), sld=f["sld"].map(_mm),
                nadir=f["nadir"].map(_mm),
                new=(f["new_lesion"] == NewLesion.YES).map({True: "yes", False: "no"}))


@REGISTRY.rule("RANO-4", title="Complete response with measurable disease", severity="error",
               category="response", form="intracranial_assessment", field="ia_rano_inv",
               repeating=True,
               message="The response is recorded as CR but target lesions still measure "
                       "{sld} mm in total. Please check the measurements or the response.")
def cr_with_disease(ctx: CheckContext) -> pd.DataFrame:
    """RANO-BM CR requires every target lesion to have disappeared (SLD 0)."""
    f = rano_frame(ctx)
    rows = ctx.form_rows("intracranial_assessment")
    bad = (f["call"] == Response.CR) & (f["sld"] > 0)
    return hits(rows, bad, field="ia_rano_inv", value=f["call"], sld=f["sld"].map(_mm))


@REGISTRY.rule("RANO-5", title="Partial response by measurement not called",
               severity="warning", category="response", form="intracranial_assessment",
               field="ia_rano_inv", repeating=True,
               message="The response is recorded as {call} but the target lesions ({sld} mm) "
                       "are at least 30% below baseline ({baseline_sld} mm) with no sign of "
                       "progression. Please check the measurements or the response.")
def missed_response(ctx: CheckContext) -> pd.DataFrame:
    """Target lesions ≥30% below baseline, with no progression component (new lesion,
    non-target or leptomeningeal PD, clinical worsening), make the time point at least a PR:
    an SD call is queried."""
    f = rano_frame(ctx)
    rows = ctx.form_rows("intracranial_assessment")
    progression = _meets_pd(f) | _other_progression(f)
    bad = ((f["call"] == Response.SD)
           & (f["sld"] <= (1 - PR_DECREASE) * f["baseline_sld"] + 1e-9)
           & ~progression)
    return hits(rows, bad, field="ia_rano_inv", value=f["call"],
                call=f["call"].map(RANO_WORDS).fillna(""), sld=f["sld"].map(_mm),
                baseline_sld=f["baseline_sld"].map(_mm))


#: A target diameter this many times the lesion's other measurements, and at least
#: IMPLAUSIBLE_MM larger, is almost always a unit slip (tenths of a mm, cm for mm).
IMPLAUSIBLE_RATIO = 3.0
IMPLAUSIBLE_MM = 30.0


@REGISTRY.rule("RANO-6", title="Implausible target lesion diameter", severity="warning",
               category="response", form="intracranial_assessment", field="ia_tl*_ld",
               repeating=True,
               message="Target lesion {lesion} measures {value} mm here but about {usual} mm on "
                       "this patient's other scans. Please check the unit (mm) and the value.")
def implausible_diameter(ctx: CheckContext) -> pd.DataFrame:
    """A target lesion diameter at least 3 times the median of the same lesion's other
    (non-zero) measurements of the patient, and at least 30 mm above it, is queried: real
    lesions do not change like that between scans, unit slips do."""
    rows = ctx.form_rows("intracranial_assessment")
    frames = []
    for k, field in enumerate(TARGET_FIELDS, start=1):
        x = ctx.number("intracranial_assessment", field)
        usual = pd.Series(_median_of_others(rows["record_id"], x), index=rows.index)
        bad = (x >= IMPLAUSIBLE_RATIO * usual) & (x - usual >= IMPLAUSIBLE_MM)
        frames.append(hits(rows, bad, field=field, lesion=str(k), usual=usual.map(_mm)))
    return pd.concat(frames, ignore_index=True)


def _median_of_others(groups: pd.Series, x: pd.Series) -> np.ndarray:
    """For each positive value, the median of the other positive values of its group
    (NaN when it is alone). Vectorised: sort within groups, then pick the middle of the
    remaining n-1 values around each value's own position."""
    out = np.full(len(x), np.nan)
    ok = (x > 0).to_numpy() & np.isfinite(x.to_numpy(dtype=float))
    if not ok.any():
        return out
    df = pd.DataFrame({"g": groups.to_numpy()[ok], "x": x.to_numpy(dtype=float)[ok],
                       "at": np.flatnonzero(ok)}).sort_values(["g", "x"], kind="stable")
    p = df.groupby("g", sort=False).cumcount().to_numpy()
    n = df.groupby("g", sort=False)["x"].transform("size").to_numpy()
    start = np.arange(len(df)) - p
    m = n - 1
    vals = df["x"].to_numpy()

    def position(r: np.ndarray) -> np.ndarray:
        return np.clip(start + np.where(r < p, r, r + 1), 0, len(vals) - 1)

    lo, hi = (m - 1) // 2, m // 2
    med = (vals[position(lo)] + vals[position(hi)]) / 2
    med = np.where(m >= 1, med, np.nan)
    out[df["at"].to_numpy()] = med
    return out


def _mm(x: float) -> str:
    if x != x or x is None or x < 0:
        return "not measured"
    return f"{x:g}"


# -- follow-up and safety ---------------------------------------------------------------------------
@REGISTRY.rule("FU-1", title="Vital status not current", severity="warning",
               category="follow-up", form="follow_up", field="last_contact_date",
               message="The last contact with this patient ({value}) is more than 90 days "
                       "before {cutoff}. Please update the vital status and the date of last "
                       "contact.")
def contact_not_current(ctx: CheckContext) -> pd.DataFrame:
    """For a patient alive (or of unrecorded vital status) the last contact is at most 90 days
    before the data cut-off; a blank last contact date counts as not current once SG has
    started."""
    rows = ctx.base
    status = ctx.text("follow_up", "vital_status")
    last = ctx.date("follow_up", "last_contact_date")
    started = ctx.text("sg_treatment", "sg_start_date") != ""
    alive = status.isin([VitalStatus.ALIVE, ""]) & started
    stale = last.isna() | (last < ctx.cutoff - pd.Timedelta(days=MAX_DAYS_WITHOUT_CONTACT))
    return hits(rows, alive & stale, field="last_contact_date",
                cutoff=ctx.cutoff.strftime("%Y-%m-%d"))


@REGISTRY.rule("FU-2", title="Death date and vital status agree", severity="error",
               category="follow-up", form="follow_up", field="vital_status",
               message="Vital status is '{status}' but the date of death is {death}. Please "
                       "make the vital status and the date of death agree.")
def death_vs_status(ctx: CheckContext) -> pd.DataFrame:
    """A patient with vital status 'dead' has a date of death, and only such a patient has."""
    rows = ctx.base
    status = ctx.text("follow_up", "vital_status")
    death = ctx.text("follow_up", "death_date")
    dead = status == VitalStatus.DEAD
    bad = (dead & (death == "")) | (~dead & (death != ""))
    words = status.map({VitalStatus.ALIVE: "alive", VitalStatus.DEAD: "dead",
                        VitalStatus.LOST_TO_FOLLOW_UP: "lost to follow-up", "": "blank"})
    return hits(rows, bad, field="vital_status", status=words.fillna(status),
                death=death.replace("", "blank"))


@REGISTRY.rule("AE-1", title="Grade 5 adverse event implies death", severity="error",
               category="safety", form="adverse_events", field="ae_grade", repeating=True,
               message="This adverse event is grade 5 (death) but the patient is not recorded "
                       "as dead with a date of death. Please check the grade or the follow-up "
                       "form.")
def grade5_without_death(ctx: CheckContext) -> pd.DataFrame:
    """A grade 5 adverse event is a death: the follow-up form must record vital status 'dead'
    and a date of death."""
    rows = ctx.form_rows("adverse_events")
    base = ctx.base
    dead = (ctx.text("follow_up", "vital_status") == VitalStatus.DEAD) & (
        ctx.text("follow_up", "death_date") != "")
    dead_ids = set(base.loc[dead.to_numpy(), "record_id"])
    bad = ((ctx.text("adverse_events", "ae_grade") == AeGrade.GRADE_5)
           & ~rows["record_id"].isin(dead_ids))
    return hits(rows, bad, field="ae_grade")


@REGISTRY.rule("AE-2", title="Fatal outcome and grade 5 agree", severity="error",
               category="safety", form="adverse_events", field="ae_outcome", repeating=True,
               message="The outcome is {outcome} but the grade is {grade}: an adverse event is "
                       "fatal exactly when it is grade 5. Please check the grade and the "
                       "outcome.")
def fatal_vs_grade(ctx: CheckContext) -> pd.DataFrame:
    """CTCAE grade 5 means death related to the AE, so the outcome 'fatal' and grade 5 go
    together."""
    rows = ctx.form_rows("adverse_events")
    grade = ctx.text("adverse_events", "ae_grade")
    outcome = ctx.text("adverse_events", "ae_outcome")
    g5, fatal = grade == AeGrade.GRADE_5, outcome == AeOutcome.FATAL
    bad = (g5 & ~fatal & (outcome != "")) | (fatal & ~g5 & (grade != ""))
    return hits(rows, bad, field="ae_outcome",
                outcome=fatal.map({True: "fatal", False: "not fatal"}), grade=grade)
