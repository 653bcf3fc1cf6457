"""Cross-form consistency rules behind the monthly report's counts: an adverse event's
action against the administrations, a grade 5 adverse event against its seriousness (its
death: AE-1 in checks/study.py), and a death whose cause the report cannot name."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sgbm_redcap.analysis.exposure import MG_PER_KG, reduced_steps
from sgbm_redcap.analysis.sets import GIVEN
from sgbm_redcap.checks.context import CheckContext
from sgbm_redcap.checks.findings import hits
from sgbm_redcap.checks.registry import REGISTRY
from sgbm_redcap.study_codes import (
    AeAction,
    AeGrade,
    Checkbox,
    DeathCause,
    VitalStatus,
    YesNo,
)

#: the seriousness criterion "Death" of ``ae_sae_criteria``
SAE_DEATH = "ae_sae_criteria___1"


def _reduced_administrations(ctx: CheckContext) -> pd.DataFrame:
    """The administrations given (record_id, date, reduced), in the order given; reduced by
    :func:`sgbm_redcap.analysis.exposure.reduced_steps` against the start dose."""
    rows = ctx.form_rows("sg_administration")
    status = ctx.text("sg_administration", "adm_status")
    adm = pd.DataFrame({
        "record_id": rows["record_id"].to_numpy(),
        "date": ctx.date("sg_administration", "adm_date").to_numpy(),
        "level": ctx.text("sg_administration", "adm_dose_level").map(MG_PER_KG).to_numpy(),
        "given": (status.isin(list(GIVEN)) | (status == "")).to_numpy(),
    })
    adm = adm[adm["given"] & adm["date"].notna() & adm["level"].notna()].sort_values(
        ["record_id", "date"], kind="stable")
    start = pd.Series(ctx.text("sg_treatment", "sg_start_dose").map(MG_PER_KG).to_numpy(),
                      index=ctx.form_rows("sg_treatment")["record_id"].to_numpy())
    flags: list[bool] = []
    for rid, group in adm.groupby("record_id", sort=False):
        flags += reduced_steps(group["level"].tolist(), float(start.get(rid, np.nan)))
    adm["reduced"] = pd.Series(flags, index=adm.index, dtype=bool)
    return adm


@REGISTRY.rule("AE-3", title="Dose reduced for an adverse event, no reduced dose given",
               severity="error", category="safety", form="adverse_events",
               field="ae_action", repeating=True,
               message="The action taken with SG for this adverse event (onset {onset}) is "
                       "'dose reduced', but no SG administration on or after the onset is "
                       "given at a dose level below the one before it. Please check the action "
                       "taken or the dose levels of the administrations.")
def reduced_without_reduction(ctx: CheckContext) -> pd.DataFrame:
    """An adverse event whose action is "dose reduced" is followed, on or after its onset, by
    an administration at a reduced dose level (below every level before it, the start dose
    included: the report's definition of a reduction). Judged once SG was given again after
    the onset or treatment has ended; while treatment goes on with no dose since the onset,
    the reduced dose may simply not be due yet."""
    rows = ctx.form_rows("adverse_events")
    onset = ctx.date("adverse_events", "ae_onset_date")
    adm = _reduced_administrations(ctx)
    ended = set(ctx.base.loc[(ctx.text("end_of_treatment", "eot_ongoing")
                              == YesNo.NO).to_numpy(), "record_id"])
    ae = pd.DataFrame({"row": np.arange(len(rows)), "record_id": rows["record_id"].to_numpy(),
                       "onset": onset.to_numpy()})
    after = ae.merge(adm[["record_id", "date", "reduced"]], on="record_id")
    after = after[after["date"] >= after["onset"]]
    any_after = np.zeros(len(rows), dtype=bool)
    any_after[after["row"].unique()] = True
    any_reduced = np.zeros(len(rows), dtype=bool)
    any_reduced[after.loc[after["reduced"].astype(bool), "row"].unique()] = True
    judged = any_after | rows["record_id"].isin(ended).to_numpy()
    bad = ((ctx.text("adverse_events", "ae_action") == AeAction.DOSE_REDUCED).to_numpy()
           & onset.notna().to_numpy() & judged & ~any_reduced)
    return hits(rows, pd.Series(bad, index=rows.index), field="ae_action",
                onset=ctx.text("adverse_events", "ae_onset_date"))


@REGISTRY.rule("AE-4", title="Grade 5 adverse event is serious, with death as its criterion",
               severity="error", category="safety", form="adverse_events",
               field="ae_serious", repeating=True,
               message="This adverse event is grade 5 (death) but it is {serious}. An adverse "
                       "event that results in death is serious with the criterion 'Death': "
                       "please check the grade and the seriousness.")
def grade5_not_serious(ctx: CheckContext) -> pd.DataFrame:
    """A grade 5 adverse event (the report's "TEAE leading to death") is serious (ICH E2A:
    results in death) with the seriousness criterion "Death" ticked, so that it is in the SAE
    listing. Grade 5 without a recorded death is AE-1; a fatal outcome with another grade is
    AE-2 (one problem, one query)."""
    rows = ctx.form_rows("adverse_events")
    g5 = ctx.text("adverse_events", "ae_grade") == AeGrade.GRADE_5
    serious = ctx.text("adverse_events", "ae_serious") == YesNo.YES
    death = (ctx.text("adverse_events", SAE_DEATH) == Checkbox.CHECKED
             if SAE_DEATH in rows.columns else pd.Series(False, index=rows.index))
    words = pd.Series(np.where(serious, "serious without the criterion 'Death'",
                               "not marked serious"), index=rows.index)
    return hits(rows, g5 & ~(serious & death), field="ae_serious", serious=words)


@REGISTRY.rule("FU-3", title="Cause of death unknown or other", severity="warning",
               category="follow-up", form="follow_up", field="death_cause",
               message="The cause of death is recorded as '{cause}'. Please record the cause "
                       "if the source documents give it (progression, treatment-related), or "
                       "confirm that it is not known.")
def death_cause_unclear(ctx: CheckContext) -> pd.DataFrame:
    """A death whose cause is "Unknown" or "Other" cannot be counted as due to progression
    or to treatment in the report: the site is asked once to name it, or to confirm it (a
    confirmed answer closes the query)."""
    rows = ctx.base
    cause = ctx.text("follow_up", "death_cause")
    dead = ctx.text("follow_up", "vital_status") == VitalStatus.DEAD
    bad = dead & cause.isin([DeathCause.UNKNOWN, DeathCause.OTHER])
    return hits(rows, bad, field="death_cause",
                cause=cause.map({DeathCause.UNKNOWN: "Unknown", DeathCause.OTHER: "Other"})
                .fillna(""))
