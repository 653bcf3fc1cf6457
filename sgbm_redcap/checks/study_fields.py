"""Where the study fields the rules use live (docs/CONTRACTS.md §3), for runs without a
dictionary (hand-made tables, offline exports)."""

from __future__ import annotations

DATE_FIELDS: list[tuple[str, str]] = [
    ("enrolment", "screening_date"), ("enrolment", "enrol_date"),
    ("enrolment", "consent_date"), ("demographics", "birth_date"),
    ("demographics", "lab_date"), ("tumour", "diag_date"), ("tumour", "first_met_date"),
    ("brain_mets_baseline", "bm_diag_date"), ("brain_mets_baseline", "bm_baseline_scan_date"),
    ("prior_cns_therapy", "cns_start_date"), ("prior_cns_therapy", "cns_end_date"),
    ("prior_systemic_therapy", "sys_start_date"), ("prior_systemic_therapy", "sys_end_date"),
    ("sg_treatment", "sg_start_date"), ("sg_administration", "adm_date"),
    ("concomitant_care", "cm_start_date"), ("concomitant_care", "cm_stop_date"),
    ("intracranial_assessment", "ia_date"), ("extracranial_assessment", "ea_date"),
    ("adverse_events", "ae_onset_date"), ("adverse_events", "ae_end_date"),
    ("subsequent_therapy", "st_start_date"), ("end_of_treatment", "eot_last_dose_date"),
    ("follow_up", "ipd_date"), ("follow_up", "epd_date"), ("follow_up", "last_contact_date"),
    ("follow_up", "death_date"),
]

#: Eligibility criteria: (field, words for the screening table, the answer that qualifies).
INCLUSION: list[tuple[str, str]] = [
    ("inc_age18", "aged 18 or over"),
    ("inc_histology", "histologically confirmed breast cancer"),
    ("inc_bm_imaging", "brain metastases confirmed by contrast MRI/CT or pathology"),
    ("inc_sg_received", "received sacituzumab govitecan"),
    ("inc_clin_stable", "clinically stable"),
    ("inc_followup", "able to be followed up"),
]
#: How a failed inclusion criterion reads in a reason or a query.
INCLUSION_FAILED: dict[str, str] = {
    "inc_age18": "younger than 18",
    "inc_histology": "breast cancer not histologically confirmed",
    "inc_bm_imaging": "brain metastases not confirmed by contrast MRI/CT or pathology",
    "inc_sg_received": "did not receive sacituzumab govitecan",
    "inc_clin_stable": "not clinically stable",
    "inc_followup": "cannot be followed up",
}
EXCLUSION: list[tuple[str, str]] = [
    ("exc_other_cancer", "another active primary cancer within 5 years"),
    ("exc_no_consent", "unable to consent and no guardian"),
    ("exc_trial", "in a concurrent interventional trial"),
    ("exc_investigator", "excluded by investigator judgement"),
]
