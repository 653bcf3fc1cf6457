"""Date-order rules: birth < diagnosis ≤ BM diagnosis ≤ SG start ≤ treatment and assessments;
AE onset ≥ SG start; death is the last date; nothing after the data cut-off."""

from __future__ import annotations

import pandas as pd

from sgbm_redcap.checks.context import CheckContext
from sgbm_redcap.checks.findings import hits
from sgbm_redcap.checks.registry import REGISTRY
from sgbm_redcap.study_codes import AssessmentType

#: (form, field) of every date a death date must not precede, with the words the message uses.
DATED_EVENTS: list[tuple[str, str, str]] = [
    ("sg_treatment", "sg_start_date", "SG start"),
    ("sg_administration", "adm_date", "an SG administration"),
    ("intracranial_assessment", "ia_date", "a brain scan"),
    ("extracranial_assessment", "ea_date", "an extracranial assessment"),
    ("adverse_events", "ae_onset_date", "an adverse event onset"),
    ("end_of_treatment", "eot_last_dose_date", "the last SG dose"),
    ("follow_up", "ipd_date", "intracranial progression"),
    ("follow_up", "epd_date", "extracranial progression"),
    ("follow_up", "last_contact_date", "the last contact"),
]

#: Repeating forms with a start and an end date.
PERIODS: list[tuple[str, str, str]] = [
    ("prior_cns_therapy", "cns_start_date", "cns_end_date"),
    ("prior_systemic_therapy", "sys_start_date", "sys_end_date"),
    ("concomitant_care", "cm_start_date", "cm_stop_date"),
    ("adverse_events", "ae_onset_date", "ae_end_date"),
]


def _record_date(ctx: CheckContext, form: str, field: str) -> pd.Series:
    """A non-repeating date as a Series indexed by record id."""
    b = ctx.form_rows(form)
    return pd.Series(ctx.date(form, field).to_numpy(), index=b["record_id"].to_numpy())


def _order(ctx: CheckContext, early: tuple[str, str], late: tuple[str, str], *, strict: bool,
           where: pd.Series | None = None, late_first: bool = False) -> pd.DataFrame:
    """Hits where the ``late`` date (the target; may be repeating) precedes ``early`` (a
    non-repeating date). ``where`` restricts the target rows. With ``late_first`` the roles
    swap: the target is ``late`` but it must come *before* ``early``."""
    rows = ctx.form_rows(late[0])
    late_d = ctx.date(*late)
    if ctx.is_repeating(late[0]):
        early_d = rows["record_id"].map(_record_date(ctx, *early))
    else:  # both on the base rows, in the same order
        early_d = ctx.date(*early)
    if late_first:
        bad = (late_d > early_d) if strict else (late_d >= early_d)
    else:
        bad = (late_d <= early_d) if strict else (late_d < early_d)
    if where is not None:
        bad &= where
    return hits(rows, bad, value=ctx.text(*late), other=early_d)


def _order_rule(rule_id: str, early: tuple[str, str], late: tuple[str, str], *, strict: bool,
                title: str, message: str, doc: str, only_followup: str | None = None,
                late_first: bool = False) -> None:
    def predicate(ctx: CheckContext) -> pd.DataFrame:
        where = None
        if only_followup:
            # not a baseline assessment
            where = ctx.text(late[0], only_followup) != AssessmentType.BASELINE
        return _order(ctx, early, late, strict=strict, where=where, late_first=late_first)

    predicate.__doc__ = doc
    REGISTRY.rule(rule_id, title=title, severity="error", category="dates", form=late[0],
                  field=late[1], message=message,
                  repeating=late[0] in ("sg_administration", "intracranial_assessment",
                                        "extracranial_assessment", "adverse_events"))(predicate)


_order_rule(
    "DATE-1", ("demographics", "birth_date"), ("tumour", "diag_date"), strict=True,
    title="Breast cancer diagnosis after birth",
    message="Date of breast cancer diagnosis ({value}) is not after the date of birth "
            "({other}). Please check both dates.",
    doc="The date of first breast cancer diagnosis must be later than the date of birth.")
_order_rule(
    "DATE-2", ("tumour", "diag_date"), ("brain_mets_baseline", "bm_diag_date"), strict=False,
    title="Brain metastases diagnosed on or after the breast cancer diagnosis",
    message="Date of brain metastasis diagnosis ({value}) is before the breast cancer "
            "diagnosis ({other}). Please check both dates.",
    doc="Brain metastases cannot be diagnosed before the breast cancer itself (same day is "
        "accepted for de novo stage IV disease).")
_order_rule(
    "DATE-3", ("sg_treatment", "sg_start_date"), ("brain_mets_baseline", "bm_diag_date"),
    strict=True, late_first=True,
    title="SG started on or after the brain metastasis diagnosis",
    message="Date of brain metastasis diagnosis ({value}) is after the SG start date "
            "({other}). Please check both dates.",
    doc="The study treats patients with known brain metastases: SG starts on or after the "
        "date brain metastases were diagnosed.")
_order_rule(
    "DATE-4", ("sg_treatment", "sg_start_date"), ("sg_administration", "adm_date"),
    strict=False, title="SG administrations on or after SG start",
    message="This SG administration is dated {value}, before the SG start date ({other}). "
            "Please check the administration date or the SG start date.",
    doc="Every SG administration is on or after the SG start date (the index date).")
_order_rule(
    "DATE-5", ("sg_treatment", "sg_start_date"), ("intracranial_assessment", "ia_date"),
    strict=False, only_followup="ia_type", title="Follow-up brain scans on or after SG start",
    message="This follow-up brain assessment is dated {value}, before the SG start date "
            "({other}). If it is the baseline scan, please set the assessment type to baseline.",
    doc="A follow-up intracranial assessment (type follow-up) is dated on or after SG start; "
        "only the baseline scan may precede it.")
_order_rule(
    "DATE-6", ("sg_treatment", "sg_start_date"), ("extracranial_assessment", "ea_date"),
    strict=False, only_followup="ea_type",
    title="Follow-up extracranial assessments on or after SG start",
    message="This follow-up extracranial assessment is dated {value}, before the SG start date "
            "({other}). If it is the baseline assessment, please set the type to baseline.",
    doc="A follow-up extracranial assessment is dated on or after SG start.")
_order_rule(
    "DATE-7", ("sg_treatment", "sg_start_date"), ("adverse_events", "ae_onset_date"),
    strict=False, title="Adverse event onset on or after SG start",
    message="Adverse event onset date ({value}) is before the SG start date ({other}). "
            "Events before SG are medical history, not adverse events: please check.",
    doc="Adverse events are collected from SG start: the onset date is on or after it.")


_order_rule(
    "DATE-11", ("sg_treatment", "sg_start_date"), ("end_of_treatment", "eot_last_dose_date"),
    strict=False, title="Last SG dose on or after SG start",
    message="The date of the last SG dose ({value}) is before the SG start date ({other}). "
            "Please check both dates.",
    doc="The last dose of SG (end of treatment) is on or after the SG start date.")
_order_rule(
    "DATE-12", ("sg_treatment", "sg_start_date"), ("follow_up", "ipd_date"), strict=False,
    title="Intracranial progression on or after SG start",
    message="The date of intracranial progression ({value}) is before the SG start date "
            "({other}). Progression is assessed from SG start: please check both dates.",
    doc="Intracranial progression (the iPFS event) is dated on or after SG start.")
_order_rule(
    "DATE-13", ("sg_treatment", "sg_start_date"), ("follow_up", "epd_date"), strict=False,
    title="Extracranial progression on or after SG start",
    message="The date of extracranial progression ({value}) is before the SG start date "
            "({other}). Please check both dates.",
    doc="Extracranial progression is dated on or after SG start.")


@REGISTRY.rule("DATE-8", title="End dates on or after start dates", severity="error",
               category="dates", form="*", field="*_end_date", repeating=True,
               message="The end date ({value}) is before the start date ({other}). "
                       "Please check both dates.")
def end_before_start(ctx: CheckContext) -> pd.DataFrame:
    """In every repeating form with a period (prior CNS therapy, prior systemic therapy,
    concomitant care, adverse events) the end date is on or after the start date."""
    frames = []
    for form, start, end in PERIODS:
        rows = ctx.form_rows(form)
        s, e = ctx.date(form, start), ctx.date(form, end)
        h = hits(rows, e < s, field=end, value=ctx.text(form, end), other=s)
        h["form"] = form
        frames.append(h)
    return pd.concat(frames, ignore_index=True)


@REGISTRY.rule("DATE-9", title="Death is the last date", severity="error", category="dates",
               form="follow_up", field="death_date",
               message="Date of death ({value}) is before {what} ({other}). Please check the "
                       "date of death and that date.")
def death_not_last(ctx: CheckContext) -> pd.DataFrame:
    """No treatment, assessment, adverse event or contact is dated after the date of death
    (the same day is accepted)."""
    rows = ctx.form_rows("follow_up")
    death = ctx.date("follow_up", "death_date")
    latest = pd.Series(pd.NaT, index=rows.index, dtype="datetime64[ns]")
    what = pd.Series("", index=rows.index, dtype=object)
    for form, field, words in DATED_EVENTS:
        per = (ctx.per_record(form, field, "max") if ctx.is_repeating(form)
               else _record_date(ctx, form, field))
        d = rows["record_id"].map(per)
        d = pd.to_datetime(d)
        later = d > latest.fillna(pd.Timestamp.min)
        latest = latest.where(~later, d)
        what = what.where(~later, words)
    return hits(rows, death < latest, value=ctx.text("follow_up", "death_date"),
                other=latest, what=what)


@REGISTRY.rule("DATE-10", title="No date after the data cut-off", severity="error",
               category="dates", form="*", field="*_date", repeating=True,
               message="The date {value} is after the data cut-off ({cutoff}). Please check "
                       "the date (dates in the future cannot be correct).")
def after_cutoff(ctx: CheckContext) -> pd.DataFrame:
    """No date field holds a date after the data cut-off (today by default)."""
    frames = []
    for form, field in _date_fields(ctx):
        rows = ctx.form_rows(form)
        if field not in rows.columns:
            continue
        h = hits(rows, ctx.date(form, field) > ctx.cutoff, field=field,
                 cutoff=ctx.cutoff.strftime("%Y-%m-%d"))
        h["form"] = form
        frames.append(h)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _date_fields(ctx: CheckContext) -> list[tuple[str, str]]:
    if ctx.dictionary is not None:
        return [(f.form, f.name) for f in ctx.dictionary.fields
                if (f.validation or "").startswith("date") and f.form != "data_queries"]
    from sgbm_redcap.checks.study_fields import DATE_FIELDS

    return list(DATE_FIELDS)
