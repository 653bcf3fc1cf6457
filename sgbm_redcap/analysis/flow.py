"""The patient flow of the study (STROBE item 13, the CONSORT-style diagram of the report).

Every box is a count of patients and every split adds up to the box above it:

* screened = eligible + not eligible + eligibility not recorded;
* eligible = treated (≥ 1 SG dose: the safety set) + not treated;
* treated = full analysis set + excluded from it (by reason);
* full analysis set = response-evaluable set + excluded from it (by reason);
* treated = still on SG at the cut-off + stopped SG (by reason, ``eot_reason``).

Enrolled (eligible with an enrolment date) is reported beside the eligible box: it is the
figure recruitment is measured by (``StudyProject.enrolment_target``). The inputs are the
cut study (:func:`sgbm_redcap.analysis.apply_cutoff`), the analysis sets and the exposure of
:func:`sgbm_redcap.analysis.analyse_study`, so the flow says what was known at the cut-off.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from sgbm_redcap.analysis.inputs import StudyData
from sgbm_redcap.study_codes import VitalStatus, YesNo

#: the text shown for a screen failure whose reason was left blank
NO_REASON = "Reason not recorded"


@dataclass(frozen=True)
class FlowStep:
    """A box of the diagram: ``n`` patients, and the splits below it as (label, n)."""

    label: str
    n: int
    reasons: list[tuple[str, int]] = field(default_factory=list)

    @property
    def reasons_total(self) -> int:
        return sum(n for _, n in self.reasons)


@dataclass(frozen=True)
class PatientFlow:
    screened: int
    eligible: int
    enrolled: int
    not_eligible: FlowStep
    eligibility_unknown: int
    treated: int
    not_treated: FlowStep
    fas: int
    not_fas: FlowStep
    ires: int
    not_ires: FlowStep
    on_treatment: int
    stopped: FlowStep

    def check(self) -> list[str]:
        """The sums that do not add up (empty when the flow is consistent)."""
        sums = [
            ("screened", self.screened,
             self.eligible + self.not_eligible.n + self.eligibility_unknown),
            ("not eligible", self.not_eligible.n, self.not_eligible.reasons_total),
            ("eligible", self.eligible, self.treated + self.not_treated.n),
            ("treated", self.treated, self.fas + self.not_fas.n),
            ("excluded from the FAS", self.not_fas.n, self.not_fas.reasons_total),
            ("FAS", self.fas, self.ires + self.not_ires.n),
            ("excluded from the response-evaluable set", self.not_ires.n,
             self.not_ires.reasons_total),
            ("treated (status)", self.treated, self.on_treatment + self.stopped.n),
            ("stopped SG", self.stopped.n, self.stopped.reasons_total),
        ]
        return [f"{name}: {a} ≠ {b}" for name, a, b in sums if a != b]


def enrolled_mask(enrol: pd.DataFrame) -> pd.Series:
    """Enrolled: eligible (``eligible`` = Yes) with an enrolment date (on the cut study)."""
    return (enrol["eligible"] == YesNo.YES) & enrol["enrol_date"].notna()


def _counts(values: pd.Series) -> list[tuple[str, int]]:
    return [(str(k), int(v)) for k, v in values.value_counts(sort=True).items()]


def patient_flow(study: StudyData, sets: pd.DataFrame, exposure: pd.DataFrame) -> PatientFlow:
    """The flow from screening to the analysis sets and the treatment status at the cut-off.

    ``study``: the cut study; ``sets``: ``StudyResults.sets``; ``exposure``:
    ``StudyResults.exposure`` (safety set, with ``discontinued`` and its reason)."""
    enrol = study.one_per_record("enrolment")
    eligible = enrol["eligible"] == YesNo.YES
    not_eligible = enrol[enrol["eligible"] == YesNo.NO]
    reasons = not_eligible["inelig_reason"].fillna("").astype(str).str.strip()
    reasons = reasons.replace("", NO_REASON)
    by_id = sets.set_index("record_id")
    ids = set(enrol.loc[eligible, "record_id"])
    in_sets = by_id.loc[by_id.index.isin(ids)]
    treated = in_sets[in_sets["safety"].astype(bool)]
    untreated = in_sets[~in_sets["safety"].astype(bool)]
    not_fas = treated[~treated["fas"].astype(bool)]
    fas = treated[treated["fas"].astype(bool)]
    not_ires = fas[~fas["ires"].astype(bool)]
    ex = exposure.set_index("record_id").reindex(treated.index)
    stopped = ex["discontinued"].fillna(False).astype(bool)
    stop_reasons = ex.loc[stopped, "discontinuation_reason"].fillna(NO_REASON).astype(str)
    return PatientFlow(
        screened=len(enrol), eligible=int(eligible.sum()),
        enrolled=int(enrolled_mask(enrol).sum()),
        not_eligible=FlowStep("Not eligible", len(not_eligible), _counts(reasons)),
        eligibility_unknown=int(len(enrol) - eligible.sum() - len(not_eligible)),
        treated=len(treated),
        not_treated=FlowStep("Not treated", len(untreated),
                             _counts(untreated["safety_reason"].replace("", NO_REASON))),
        fas=len(fas),
        not_fas=FlowStep("Excluded from the full analysis set", len(not_fas),
                         _counts(not_fas["fas_reason"].replace("", NO_REASON))),
        ires=int(fas["ires"].astype(bool).sum()),
        not_ires=FlowStep("Not response-evaluable", len(not_ires),
                          _counts(not_ires["ires_reason"].replace("", NO_REASON))),
        on_treatment=int((~stopped).sum()),
        stopped=FlowStep("Stopped SG", int(stopped.sum()), _counts(stop_reasons)),
    )


#: a patient alive at the last contact is "not seen recently" after this many days
RECENT_CONTACT_DAYS = 90


def follow_up_end(study: StudyData, endpoints: pd.DataFrame, population: list[str],
                  cutoff: pd.Timestamp | None) -> list[tuple[str, int, bool]]:
    """Why follow-up ended for the patients of ``population`` (the safety set), as (label,
    n, is_sub_row): died (the OS event), lost to follow-up (vital status), or still in
    follow-up at the cut-off, split by the last contact within / beyond
    :data:`RECENT_CONTACT_DAYS`. The top rows add up to the population, the sub-rows to
    their row."""
    fu = study.one_per_record("follow_up").set_index("record_id").reindex(population)
    os_ = endpoints[(endpoints["endpoint"] == "os") & endpoints["record_id"].isin(population)]
    died = fu.index.isin(os_.loc[os_["event"] == 1, "record_id"])
    lost = ~died & (fu["vital_status"] == VitalStatus.LOST_TO_FOLLOW_UP).to_numpy()
    followed = ~died & ~lost
    last = fu["last_contact_date"]
    if cutoff is not None:
        days = (cutoff - last).dt.days
        recent = followed & (days <= RECENT_CONTACT_DAYS).to_numpy()
    else:
        recent = followed & last.notna().to_numpy()
    return [("Died", int(died.sum()), False), ("Lost to follow-up", int(lost.sum()), False),
            ("In follow-up at the cut-off", int(followed.sum()), False),
            (f"last contact within {RECENT_CONTACT_DAYS} days", int(recent.sum()), True),
            (f"last contact more than {RECENT_CONTACT_DAYS} days before, or not recorded",
             int((followed & ~recent).sum()), True)]
