"""Eligibility: every inclusion and exclusion criterion of the protocol evaluated per patient
(the screening table), and the rules that query a recorded eligibility the criteria do not
support."""

from __future__ import annotations

import pandas as pd

from sgbm_redcap.checks.context import CheckContext
from sgbm_redcap.checks.findings import hits
from sgbm_redcap.checks.registry import REGISTRY
from sgbm_redcap.checks.study_fields import EXCLUSION, INCLUSION, INCLUSION_FAILED
from sgbm_redcap.study_codes import YesNo

#: Days per year for ages (Julian year, as REDCap's ``datediff(..., 'y')``).
DAYS_PER_YEAR = 365.25


def _failed(ctx: CheckContext) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(met, failed, unanswered) boolean frames, one column per criterion, base-row order."""
    met, failed, blank = {}, {}, {}
    for field, _words in INCLUSION:
        v = ctx.text("enrolment", field)
        met[field], failed[field], blank[field] = v == YesNo.YES, v == YesNo.NO, v == ""
    for field, _words in EXCLUSION:
        v = ctx.text("enrolment", field)
        met[field], failed[field], blank[field] = v == YesNo.NO, v == YesNo.YES, v == ""
    return pd.DataFrame(met), pd.DataFrame(failed), pd.DataFrame(blank)


def _words(mask: pd.DataFrame) -> pd.Series:
    words = dict(INCLUSION + EXCLUSION)
    labels = {f: INCLUSION_FAILED.get(f, w) for f, w in words.items()}
    return mask.apply(lambda row: "; ".join(labels[c] for c in mask.columns if row[c]), axis=1) \
        if len(mask) else pd.Series(dtype=object)


def age_at_sg_start(ctx: CheckContext) -> pd.Series:
    """Age in years at SG start (at screening when SG start is blank), base-row order."""
    birth = ctx.date("demographics", "birth_date")
    ref = ctx.date("sg_treatment", "sg_start_date").fillna(ctx.date("enrolment",
                                                                     "screening_date"))
    return (ref - birth).dt.days / DAYS_PER_YEAR


def screening_table(tables_or_ctx) -> pd.DataFrame:
    """One row per patient: each criterion ('met', 'not met', 'unanswered'), the eligibility
    the criteria imply, the eligibility recorded by the site, and the reason when a patient
    fails."""
    from sgbm_redcap.checks.engine import _context

    ctx = _context(tables_or_ctx, cutoff=None, dictionary=None)
    base = ctx.base
    met, failed, blank = _failed(ctx)
    out = pd.DataFrame({"record_id": base["record_id"], "dag": base["dag"]})
    for c in met.columns:
        out[c] = "unanswered"
        out.loc[met[c].to_numpy(), c] = "met"
        out.loc[failed[c].to_numpy(), c] = "not met"
    complete = ~blank.any(axis=1)
    derived = pd.Series("incomplete", index=base.index, dtype=object)
    derived[complete & met.all(axis=1)] = "eligible"
    derived[failed.any(axis=1)] = "not eligible"
    out["eligible_by_criteria"] = derived.to_numpy()
    recorded = ctx.text("enrolment", "eligible").map({YesNo.YES: "eligible",
                                                      YesNo.NO: "not eligible"})
    out["eligible_recorded"] = recorded.fillna("").to_numpy()
    reason = _words(failed)
    site_reason = ctx.text("enrolment", "inelig_reason")
    out["reason"] = reason.where(reason != "", site_reason).to_numpy()
    return out


@REGISTRY.rule("ELIG-1", title="Eligible patient who fails a criterion", severity="error",
               category="eligibility", form="enrolment", field="inc_*/exc_*",
               message="The patient is recorded as eligible but the screening checklist says "
                       "'{words}'. Please correct the checklist or the eligibility.")
def eligible_but_fails(ctx: CheckContext) -> pd.DataFrame:
    """A patient recorded as eligible must meet every inclusion criterion and no exclusion
    criterion of the protocol. One query per failed criterion, on the criterion."""
    _met, failed, _blank = _failed(ctx)
    rows = ctx.base
    eligible = ctx.text("enrolment", "eligible") == YesNo.YES
    words = dict(INCLUSION + EXCLUSION)
    frames = [hits(rows, eligible & failed[c], field=c,
                   words=INCLUSION_FAILED.get(c, words[c]))
              for c in failed.columns]
    return pd.concat(frames, ignore_index=True)


@REGISTRY.rule("ELIG-2", title="Ineligible patient who meets every criterion",
               severity="warning", category="eligibility", form="enrolment", field="eligible",
               message="The patient is recorded as not eligible although every inclusion "
                       "criterion is met and no exclusion criterion applies. Please give the "
                       "reason or correct the eligibility.")
def ineligible_but_meets_all(ctx: CheckContext) -> pd.DataFrame:
    """A patient recorded as not eligible should fail at least one criterion, or the reason
    for ineligibility must say why."""
    met, _failed_, _blank = _failed(ctx)
    rows = ctx.base
    bad = ((ctx.text("enrolment", "eligible") == YesNo.NO) & met.all(axis=1)
           & (ctx.text("enrolment", "inelig_reason") == ""))
    return hits(rows, bad, field="eligible")


@REGISTRY.rule("ELIG-3", title="Eligibility criterion unanswered", severity="error",
               category="eligibility", form="enrolment", field="inc_*/exc_*",
               message="The eligibility criterion '{words}' is unanswered. Please answer it "
                       "from the source documents.")
def criterion_unanswered(ctx: CheckContext) -> pd.DataFrame:
    """Every inclusion and exclusion criterion is answered for every screened patient
    (a patient whose enrolment form has been started)."""
    rows = ctx.base
    started = (ctx.text("enrolment", "eligible") != "") | (
        ctx.text("enrolment", "screening_date") != "")
    _met, _failed_, blank = _failed(ctx)
    words = dict(INCLUSION + EXCLUSION)
    frames = [hits(rows, blank[c] & started, field=c, words=words[c]) for c in blank.columns]
    return pd.concat(frames, ignore_index=True)


@REGISTRY.rule("ELIG-4", title="Age criterion contradicts the date of birth", severity="error",
               category="eligibility", form="enrolment", field="inc_age18",
               message="'Aged 18 or over' is answered {answer} but the date of birth gives "
                       "{age} years at SG start. Please check the date of birth and the "
                       "criterion.")
def age_contradiction(ctx: CheckContext) -> pd.DataFrame:
    """The age criterion agrees with the age computed from the date of birth and SG start."""
    rows = ctx.base
    age = age_at_sg_start(ctx)
    answer = ctx.text("enrolment", "inc_age18")
    bad = ((answer == YesNo.YES) & (age < 18)) | ((answer == YesNo.NO) & (age >= 18))
    return hits(rows, bad, field="inc_age18",
                answer=answer.map({YesNo.YES: "Yes", YesNo.NO: "No"}),
                age=age.round(1))


@REGISTRY.rule("ELIG-5", title="SG criterion without SG treatment", severity="error",
               category="eligibility", form="enrolment", field="inc_sg_received",
               message="'Received sacituzumab govitecan' is answered Yes but no SG start date "
                       "and no SG administration are recorded. Please enter the SG treatment "
                       "or correct the criterion.")
def sg_criterion_without_sg(ctx: CheckContext) -> pd.DataFrame:
    """An enrolled (eligible) patient who received SG has an SG start date or at least one SG
    administration. Screen failures are not followed, so their SG data are not expected."""
    rows = ctx.base
    adm = ctx.form_rows("sg_administration")
    given = set(adm.loc[ctx.text("sg_administration", "adm_date") != "", "record_id"])
    no_sg = (ctx.text("sg_treatment", "sg_start_date") == "") & ~rows["record_id"].isin(given)
    bad = ((ctx.text("enrolment", "inc_sg_received") == YesNo.YES) & no_sg
           & (ctx.text("enrolment", "eligible") == YesNo.YES))
    return hits(rows, bad, field="inc_sg_received")
