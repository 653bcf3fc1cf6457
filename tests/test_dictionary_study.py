"""The SG-BM-RWS dictionary itself: the names and codes other packages rely on
(docs/CONTRACTS.md §3), REDCap-readiness, and that the committed CSV is what the generator
writes."""

from __future__ import annotations

import csv
import importlib.util
import sys

import pandas as pd
import pytest
from dictionary_fixtures import PROJECT_DIR, STUDY_CSV

from sgbm_redcap.dictionary import load_dictionary
from sgbm_redcap.dictionary.ctcae import (
    CTCAE_SOC,
    CTCAE_TERMS,
    OTHER_TERM_CODE,
    POOLED_TERMS,
    pooled_term,
)
from sgbm_redcap.dictionary.lint import lint, logic_available
from sgbm_redcap.dictionary.model import UI_HEADER
from sgbm_redcap.dictionary.project import load_project
from sgbm_redcap.errors import DictionaryError

D = load_dictionary(STUDY_CSV)
YESNO = {"1": "Yes", "0": "No"}

#: docs/CONTRACTS.md §3: form -> (repeating?, fields other packages use)
CONTRACT_FORMS: dict[str, tuple[bool, list[str]]] = {
    "enrolment": (False, "record_id site_patient_id screening_date enrol_date inc_age18 "
                  "inc_histology inc_bm_imaging inc_sg_received inc_clin_stable inc_followup "
                  "exc_other_cancer exc_no_consent exc_trial exc_investigator consent_type "
                  "consent_date eligible inelig_reason".split()),
    "demographics": (False, "birth_date sex age_sg_start height_cm weight_kg menopausal ecog kps "
                     "lab_date anc plt hb alt ast tbil creat albumin".split()
                     + [f"{lab}_{s}" for lab in "anc plt hb alt ast tbil creat albumin".split()
                        for s in ("lln", "uln", "unit")]),
    "tumour": (False, "diag_date de_novo_iv er_pct pr_pct her2_ihc her2_ish her2_low subtype_sg "
               "trop2_hscore ugt1a1_28 ugt1a1_6 first_met_date ec_mets visceral_mets".split()),
    "brain_mets_baseline": (False, "bm_diag_date bm_diag_method bm_baseline_scan_date bm_count "
                            "bm_count_cat bm_largest_mm bm_measurable_n bm_symptomatic lmd "
                            "bm_status steroid_at_start steroid_dex_mg aed_at_start".split()),
    "prior_cns_therapy": (True, "cns_type cns_start_date cns_end_date cns_dose_gy "
                          "cns_fractions".split()),
    "prior_systemic_therapy": (True, "sys_setting sys_line sys_agents sys_start_date "
                               "sys_end_date".split()),
    "sg_treatment": (False, "sg_start_date sg_line sg_start_dose sg_combination "
                     "days_last_rt_to_sg".split()),
    "sg_administration": (True, "adm_date adm_cycle adm_day adm_dose_level adm_dose_mg adm_status "
                          "adm_delay_days adm_delay_reason".split()),
    "concomitant_care": (True, "cm_category cm_agent cm_start_date cm_stop_date cm_dex_mg "
                         "gcsf_type gcsf_purpose cm_cns_for_pd".split()),
    "intracranial_assessment": (True, "ia_date ia_type ia_modality ia_tl1_ld ia_tl2_ld ia_tl3_ld "
                                "ia_tl4_ld ia_tl5_ld ia_sld ia_nontarget ia_new_lesion ia_lmd "
                                "ia_steroid_dex_mg ia_steroid_change ia_clinical "
                                "ia_rano_inv".split()),
    "extracranial_assessment": (True, "ea_date ea_type ea_tl1_ld ea_tl2_ld ea_tl3_ld ea_tl4_ld "
                                "ea_tl5_ld ea_sld ea_nontarget ea_new_lesion "
                                "ea_recist_inv".split()),
    "adverse_events": (True, "ae_term ae_term_other ae_onset_date ae_end_date ae_ongoing "
                       "ae_grade ae_serious ae_relation ae_action ae_outcome ae_aesi".split()),
    "subsequent_therapy": (True, "st_type st_start_date st_cns_local".split()),
    "end_of_treatment": (False, "eot_last_dose_date eot_reason eot_ongoing".split()),
    "follow_up": (False, "ipd_date ipd_criterion epd_date last_contact_date vital_status "
                  "death_date death_cause".split()),
    "data_queries": (True, "dq_id dq_rule dq_severity dq_form dq_instance dq_field dq_message "
                     "dq_status dq_opened_date dq_site_response dq_answered_date dq_closed_date "
                     "dq_note".split()),
}

#: docs/CONTRACTS.md §3: binding choice codes (code -> a word the label must contain)
CONTRACT_CODES: dict[str, dict[str, str]] = {
    "consent_type": {"1": "written", "2": "waiver"},
    "sex": {"1": "female", "2": "male"},
    "menopausal": {"1": "pre", "2": "post", "3": "not applicable"},
    "ecog": {str(i): str(i) for i in range(5)},
    "her2_ihc": {"0": "0", "1": "1+", "2": "2+", "3": "3+"},
    "her2_ish": {"0": "neg", "1": "pos", "9": "not done"},
    "subtype_sg": {"1": "hr+", "2": "tnbc", "3": "other"},
    "ugt1a1_28": {"1": "wild", "2": "heterozygous", "3": "homozygous", "9": "not tested"},
    "ugt1a1_6": {"1": "wild", "2": "heterozygous", "3": "homozygous", "9": "not tested"},
    "ec_mets": {"1": "liver", "2": "lung", "3": "bone", "4": "nodes", "5": "other", "0": "none"},
    "bm_count_cat": {"1": "1", "2": "2-3", "3": "4-10", "4": "more than 10"},
    "bm_status": {"1": "untreated", "2": "stable", "3": "progressing"},
    "cns_type": {"1": "surgery", "2": "srs", "3": "fsrt", "4": "wbrt", "5": "hippocampal",
                 "9": "other"},
    "sys_setting": {"1": "neoadjuvant", "2": "adjuvant", "3": "metastatic"},
    "sg_start_dose": {"1": "10 mg/kg", "2": "7.5", "3": "5 mg/kg"},
    "adm_day": {"1": "d1", "8": "d8"},
    "adm_dose_level": {"1": "10 mg/kg", "2": "7.5", "3": "5 mg/kg"},
    "adm_status": {"1": "given", "2": "delayed", "3": "omitted"},
    "adm_delay_reason": {"1": "adverse", "2": "logistics", "3": "other"},
    "cm_category": {"1": "corticosteroid", "2": "g-csf", "3": "antiepileptic",
                    "4": "antidiarrhoeal", "5": "antiemetic", "6": "transfusion",
                    "7": "antibiotic", "8": "bevacizumab", "9": "cns local therapy",
                    "99": "other"},
    "gcsf_type": {"1": "short", "2": "peg"},
    "gcsf_purpose": {"1": "primary", "2": "secondary", "3": "treatment"},
    "ia_type": {"1": "baseline", "2": "follow-up"},
    "ia_modality": {"1": "mri", "2": "ct"},
    "ia_nontarget": {"0": "absent", "1": "non-cr/non-pd", "2": "progression", "9": "not eval"},
    "ia_new_lesion": {"0": "no", "1": "yes", "2": "equivocal"},
    "ia_lmd": {"0": "absent", "1": "stable", "2": "improved", "3": "progression",
               "9": "not eval"},
    "ia_steroid_change": {"1": "decreased", "2": "stable", "3": "increased"},
    "ia_clinical": {"1": "improved", "2": "stable", "3": "worse"},
    "ia_rano_inv": {"1": "cr", "2": "pr", "3": "sd", "4": "pd", "5": "ne", "6": "non-cr/non-pd"},
    "ea_type": {"1": "baseline", "2": "follow-up"},
    "ea_recist_inv": {"1": "cr", "2": "pr", "3": "sd", "4": "pd", "5": "ne", "6": "non-cr/non-pd"},
    "ae_grade": {str(i): str(i) for i in range(1, 6)},
    "ae_relation": {"1": "related", "2": "not related", "3": "unknown"},
    "ae_action": {"1": "none", "2": "interrupted", "3": "reduced", "4": "discontinued"},
    "ae_outcome": {"1": "recovered", "2": "recovering", "3": "not recovered", "4": "sequelae",
                   "5": "fatal", "9": "unknown"},
    "eot_reason": {"1": "intracranial", "2": "extracranial", "3": "and extracranial",
                   "4": "toxicity", "5": "patient", "6": "death", "7": "deterioration",
                   "8": "lost", "99": "other"},
    "ipd_criterion": {"1": "target", "2": "non-target", "3": "new", "4": "leptomeningeal",
                      "5": "clinical"},
    "vital_status": {"1": "alive", "2": "dead", "3": "lost"},
    "death_cause": {"1": "intracranial", "2": "extracranial", "3": "treatment", "4": "other",
                    "9": "unknown"},
    "dq_severity": {"1": "error", "2": "warning"},
    "dq_status": {"1": "open", "2": "answered", "3": "closed", "4": "reopened"},
}

CONTRACT_YESNO = ("inc_age18 inc_histology inc_bm_imaging inc_sg_received inc_clin_stable "
                  "inc_followup exc_other_cancer exc_no_consent exc_trial exc_investigator "
                  "eligible de_novo_iv visceral_mets bm_symptomatic lmd steroid_at_start "
                  "aed_at_start sg_combination cm_cns_for_pd ae_ongoing ae_serious ae_aesi "
                  "st_cns_local eot_ongoing").split()
CONTRACT_DATES = [f.name for f in D if f.name.endswith("_date")]


def test_forms_in_contract_order_with_their_fields() -> None:
    assert D.forms == list(CONTRACT_FORMS)
    for form, (_repeating, names) in CONTRACT_FORMS.items():
        have = [f.name for f in D.form_fields(form)]
        missing = [n for n in names if n not in have]
        assert not missing, f"{form} lacks {missing}"


def test_repeating_forms_match_the_contract() -> None:
    project = load_project(PROJECT_DIR)
    assert project.repeating_forms == [f for f, (rep, _) in CONTRACT_FORMS.items() if rep]


@pytest.mark.parametrize("name", sorted(CONTRACT_CODES))
def test_contract_choice_codes(name: str) -> None:
    f = D.field(name)
    expected = CONTRACT_CODES[name]
    assert list(f.choices) == list(expected), f"{name} codes {list(f.choices)}"
    for code, word in expected.items():
        label = f.choices[code].lower().replace("–", "-")
        assert word in label, f"{name} {code}: {f.choices[code]!r} does not say {word!r}"


def test_yesno_fields_and_dates() -> None:
    for name in CONTRACT_YESNO:
        assert D.field(name).field_type == "yesno", name
        assert D.field(name).choices == YESNO
    assert len(CONTRACT_DATES) >= 30
    for name in CONTRACT_DATES:
        assert D.field(name).validation == "date_ymd", name


def test_types_the_contract_fixes() -> None:
    assert D.field("inelig_reason").field_type == "text"
    assert D.field("inelig_reason").branching_logic == "[eligible] = '0'"
    for calc in ("age_sg_start", "her2_low", "days_last_rt_to_sg", "ia_sld", "ea_sld"):
        assert D.field(calc).field_type == "calc", calc
    assert D.field("ec_mets").field_type == "checkbox"
    assert D.field("sys_agents").field_type == "checkbox"
    assert D.field("ae_term").field_type == "dropdown"
    assert D.field("adm_cycle").validation == "integer" and D.field("adm_cycle").validation_min == "1"
    assert D.field("kps").validation_min == "0" and D.field("kps").validation_max == "100"
    assert D.field("dq_id").field_type == "text"


def test_direct_identifiers_are_flagged_and_nothing_else() -> None:
    assert {f.name for f in D if f.identifier} == {"site_patient_id", "birth_date"}


def test_ae_term_choices_come_from_the_ctcae_list() -> None:
    f = D.field("ae_term")
    assert f.choices == CTCAE_TERMS
    assert all(code.isdigit() for code in CTCAE_TERMS)
    assert list(CTCAE_TERMS)[-1] == OTHER_TERM_CODE
    assert set(CTCAE_SOC) == set(CTCAE_TERMS) - {OTHER_TERM_CODE}
    assert len(set(CTCAE_TERMS.values())) == len(CTCAE_TERMS)
    assert D.field("ae_term_other").branching_logic == "[ae_term] = '999'"


def test_pooling_groups() -> None:
    by_name = {v: k for k, v in CTCAE_TERMS.items()}
    assert POOLED_TERMS["Neutropenia"] == (by_name["Neutrophil count decreased"],)
    assert pooled_term(by_name["Neutrophil count decreased"]) == "Neutropenia"
    assert pooled_term(OTHER_TERM_CODE, " Hemoglobin decreased ") == "Anemia"
    assert pooled_term(by_name["Febrile neutropenia"]) is None
    for codes in POOLED_TERMS.values():
        assert all(c in CTCAE_TERMS for c in codes)


def test_lints_with_zero_errors_and_zero_warnings_with_the_logic_parser() -> None:
    assert logic_available(), "sgbm_redcap.logic.parse must be wired into the linter"
    report = lint(D, repeating_forms=load_project(PROJECT_DIR).repeating_forms)
    assert report.logic_parser
    assert [str(i) for i in report.issues] == []


def test_exact_redcap_header_and_18_cells_per_record() -> None:
    with open(STUDY_CSV, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == list(UI_HEADER)
    assert {len(r) for r in rows} == {18}
    assert STUDY_CSV.read_bytes()[:3] != b"\xef\xbb\xbf"


def test_committed_csv_is_what_the_generator_writes() -> None:
    spec = importlib.util.spec_from_file_location("build_dictionary",
                                                  PROJECT_DIR / "build_dictionary.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    assert module.render(module.build()) == STUDY_CSV.read_text(encoding="utf-8"), \
        "run .venv/bin/python redcap_project/build_dictionary.py and commit the CSV"


def test_project_metadata() -> None:
    project = load_project(PROJECT_DIR)
    assert project.version == "1.1.0"
    assert len(project.dags) >= 2 and all(n.startswith("site_") for n, _ in project.dags)
    assert set(project.repeating_labels) <= set(project.repeating_forms)
    changelog = (PROJECT_DIR / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## {project.version}" in changelog


def test_every_field_has_a_label_and_required_fields_can_be_shown() -> None:
    for f in D:
        assert f.label.strip(), f.name
        if f.field_type in ("radio", "dropdown", "checkbox"):
            assert f.choices, f.name


# ---------------------------------------------------------------- calc fields, evaluated
def _calc(name: str, **values: str) -> float:
    from sgbm_redcap.logic import evaluate, parse

    row = dict.fromkeys(("birth_date", "sg_start_date", "her2_ihc", "her2_ish",
                         "last_cns_rt_date", "er_pct", *[f"ia_tl{i}_ld" for i in range(1, 6)]),
                        "")
    table = pd.DataFrame([{"record_id": "1", **row, **values}])
    result = evaluate(parse(D.field(name).calculation), table, as_="number")
    return float(result.iloc[0])


def test_calc_age_at_sg_start() -> None:
    assert _calc("age_sg_start", birth_date="1970-06-15", sg_start_date="2024-06-14") == 53
    assert _calc("age_sg_start", birth_date="1970-06-15", sg_start_date="2024-06-15") == 54


def test_calc_her2_low() -> None:
    assert _calc("her2_low", her2_ihc="1", her2_ish="9") == 1
    assert _calc("her2_low", her2_ihc="2", her2_ish="0") == 1
    assert _calc("her2_low", her2_ihc="0", her2_ish="9") == 0
    assert _calc("her2_low", her2_ihc="3", her2_ish="") == 0
    assert _calc("her2_low", her2_ihc="2", her2_ish="1") == 0
    assert pd.isna(_calc("her2_low", her2_ihc="2", her2_ish="9"))
    assert pd.isna(_calc("her2_low"))


def test_calc_days_from_last_cns_radiation_and_sld() -> None:
    assert _calc("days_last_rt_to_sg", last_cns_rt_date="2024-01-01",
                 sg_start_date="2024-01-29") == 28
    assert pd.isna(_calc("days_last_rt_to_sg", sg_start_date="2024-01-29"))
    assert _calc("ia_sld", ia_tl1_ld="12", ia_tl2_ld="10.5") == 22.5
    assert pd.isna(_calc("ia_sld"))
    assert _calc("er_low", er_pct="5") == 1 and _calc("er_low", er_pct="50") == 0


# ---------------------------------------------------------------- project.toml errors
@pytest.mark.parametrize("toml, column", [
    ("[project]\n", "project.version"),
    ('[project]\nversion = "1"\n[repeating]\nforms = ["no_such_form"]\n', "repeating.forms"),
    ('[project]\nversion = "1"\n[[dags]]\nunique_name = "Site A"\nlabel = "A"\n', "dags[1]"),
    ('[project]\nversion = "1"\n[[dags]]\nunique_name = "a"\nlabel = "A"\n'
     '[[dags]]\nunique_name = "a"\nlabel = "B"\n', "dags"),
    ("[project\n", None),
])
def test_bad_project_metadata_is_a_dictionary_error(tmp_path, toml: str, column) -> None:
    (tmp_path / "project.toml").write_text(toml, encoding="utf-8")
    (tmp_path / "data_dictionary.csv").write_bytes(STUDY_CSV.read_bytes())
    with pytest.raises(DictionaryError) as info:
        load_project(tmp_path)
    assert info.value.column == column
    assert info.value.file.endswith("project.toml")


def test_missing_project_folder(tmp_path) -> None:
    with pytest.raises(DictionaryError):
        load_project(tmp_path / "absent")
