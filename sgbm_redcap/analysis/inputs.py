"""Bring whatever the caller has into one canonical shape: form name → DataFrame with codes.

The analyses work on **REDCap codes**, never on labels: a label can be reworded in the
dictionary without changing what the data mean, a code cannot. Three inputs are accepted:

* a ``StudyTables`` (anything with a ``.raw`` flat export DataFrame): the flat export is split
  into forms and every value is read from its raw string — this is the preferred route;
* a flat export DataFrame itself (``record_id``, ``redcap_repeat_instrument``, fields …);
* a plain mapping form name → DataFrame (the typed tables of CONTRACTS §4, or hand-built test
  worlds). Categorical label columns are turned back into codes through the dictionary's
  choices when the mapping has a ``.dictionary``, else through the labels of CONTRACTS §3;
  values that already are codes are kept; ``boolean`` yes/no columns become ``"1"``/``"0"``.

Canonical frames have every field of :data:`SCHEMA` for their form (missing → NA): dates as
``datetime64[ns]``, numbers as float, coded choices as ``str`` codes (``None`` when blank).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sgbm_redcap.dictionary.project import study_project
from sgbm_redcap.errors import AnalysisInputError

logger = logging.getLogger(__name__)

#: The study's repeating instruments (``project.toml``); data_queries is one of them but no
#: analysis reads it (it is not in :data:`SCHEMA`).
REPEATING_FORMS: frozenset[str] = frozenset(study_project().repeating_forms)

_TL = {f"ia_tl{i}_ld": "num" for i in range(1, 6)}
_ETL = {f"ea_tl{i}_ld": "num" for i in range(1, 6)}
#: baseline labs of the shift tables: value, LLN and ULN (numbers) and the unit (a code)
_LABS = {f"{lab}{suffix}": ("code" if suffix == "_unit" else "num")
         for lab in ("anc", "hb", "plt", "alt", "ast", "tbil", "potassium", "magnesium")
         for suffix in ("", "_unit", "_lln", "_uln")}

#: The fields the analyses read, per form, with their kind (CONTRACTS §3).
SCHEMA: dict[str, dict[str, str]] = {
    "enrolment": {"screening_date": "date", "enrol_date": "date", "eligible": "code",
                  "inelig_reason": "text", "consent_type": "code"},
    "demographics": {"sex": "code", "age_sg_start": "num", "height_cm": "num",
                     "weight_kg": "num", "menopausal": "code", "ecog": "code", "kps": "num",
                     "lab_date": "date", **_LABS},
    "tumour": {"diag_date": "date", "de_novo_iv": "code", "er_pct": "num", "pr_pct": "num",
               "her2_ihc": "code", "her2_ish": "code", "her2_low": "code",
               "subtype_sg": "code", "trop2_hscore": "num", "ugt1a1_28": "code",
               "ugt1a1_6": "code", "first_met_date": "date", "visceral_mets": "code"},
    "brain_mets_baseline": {"bm_diag_date": "date", "bm_baseline_scan_date": "date",
                            "bm_count": "num", "bm_count_cat": "code", "bm_largest_mm": "num",
                            "bm_measurable_n": "num", "bm_symptomatic": "code", "lmd": "code",
                            "bm_status": "code", "steroid_at_start": "code",
                            "steroid_dex_mg": "num", "aed_at_start": "code"},
    "prior_cns_therapy": {"cns_type": "code", "cns_start_date": "date", "cns_end_date": "date"},
    "prior_systemic_therapy": {"sys_setting": "code", "sys_line": "num",
                               "sys_start_date": "date", "sys_end_date": "date"},
    "sg_treatment": {"sg_start_date": "date", "sg_line": "num", "sg_start_dose": "code",
                     "sg_combination": "code"},
    "sg_administration": {"adm_date": "date", "adm_cycle": "num", "adm_day": "code",
                          "adm_dose_level": "code", "adm_dose_mg": "num", "adm_status": "code",
                          "adm_delay_days": "num", "adm_delay_reason": "code",
                          "adm_reduced": "code"},
    "concomitant_care": {"cm_category": "code", "cm_agent": "text", "cm_start_date": "date",
                         "cm_stop_date": "date", "cm_dex_mg": "num", "gcsf_type": "code",
                         "gcsf_purpose": "code", "cm_cns_type": "code",
                         "cm_cns_for_pd": "code"},
    "intracranial_assessment": {"ia_date": "date", "ia_type": "code", "ia_modality": "code",
                                **_TL, "ia_sld": "num", "ia_nontarget": "code",
                                "ia_new_lesion": "code", "ia_new_confirmed": "code",
                                "ia_lmd": "code", "ia_clin_tumour": "code",
                                "ia_pseudoprog": "code",
                                "ia_steroid_dex_mg": "num", "ia_steroid_change": "code",
                                "ia_clinical": "code", "ia_rano_inv": "code"},
    "extracranial_assessment": {"ea_date": "date", "ea_type": "code", **_ETL, "ea_sld": "num",
                                "ea_nontarget": "code", "ea_new_lesion": "code",
                                "ea_recist_inv": "code"},
    "adverse_events": {"ae_term": "code", "ae_term_other": "text", "ae_onset_date": "date",
                       "ae_end_date": "date", "ae_ongoing": "code", "ae_grade": "code",
                       "ae_serious": "code", "ae_relation": "code", "ae_action": "code",
                       "ae_outcome": "code", "ae_aesi": "code"},
    "subsequent_therapy": {"st_type": "code", "st_start_date": "date", "st_cns_local": "code",
                           "st_after_ipd": "code"},
    "end_of_treatment": {"eot_last_dose_date": "date", "eot_reason": "code",
                         "eot_ongoing": "code"},
    "follow_up": {"ipd_date": "date", "ipd_criterion": "code", "epd_date": "date",
                  "last_contact_date": "date", "vital_status": "code", "death_date": "date",
                  "death_cause": "code", "first_pd_pattern": "code", "ltfu_date": "date"},
}

#: checkbox fields the analyses read (one ``name___code`` column per option), per form
CHECKBOXES: dict[str, tuple[str, ...]] = {"tumour": ("ec_mets",),
                                          "prior_systemic_therapy": ("sys_agents",)}

_YESNO = {"1": "Yes", "0": "No"}
_CONF = {"1": "Confirmed", "2": "Not confirmed", "3": "Not yet known"}
_RESP = {"1": "CR", "2": "PR", "3": "SD", "4": "PD", "5": "NE", "6": "non-CR/non-PD"}

#: Labels of CONTRACTS §3, used for display and to read label-valued columns when the input
#: carries no dictionary.
LABELS: dict[str, dict[str, str]] = {
    "eligible": _YESNO, "de_novo_iv": _YESNO, "her2_low": _YESNO, "visceral_mets": _YESNO,
    "bm_symptomatic": _YESNO, "lmd": _YESNO, "steroid_at_start": _YESNO, "aed_at_start": _YESNO,
    "sg_combination": _YESNO, "cm_cns_for_pd": _YESNO, "st_cns_local": _YESNO,
    "ae_ongoing": _YESNO, "ae_serious": _YESNO, "ae_aesi": _YESNO, "eot_ongoing": _YESNO,
    "consent_type": {"1": "Written", "2": "Waiver"},
    "sex": {"1": "Female", "2": "Male"},
    "menopausal": {"1": "Pre-menopausal", "2": "Post-menopausal", "3": "Not applicable"},
    "ecog": {str(i): str(i) for i in range(5)},
    "her2_ihc": {"0": "0", "1": "1+", "2": "2+", "3": "3+"},
    "her2_ish": {"0": "Negative", "1": "Positive", "9": "Not done"},
    "subtype_sg": {"1": "HR+/HER2-", "2": "TNBC", "3": "Other"},
    "ugt1a1_28": {"1": "Wild type", "2": "Heterozygous", "3": "Homozygous", "9": "Not tested"},
    "ugt1a1_6": {"1": "Wild type", "2": "Heterozygous", "3": "Homozygous", "9": "Not tested"},
    "bm_count_cat": {"1": "1", "2": "2-3", "3": "4-10", "4": ">10"},
    "bm_status": {"1": "Untreated", "2": "Treated, stable", "3": "Treated, progressing"},
    "cns_type": {"1": "Surgery", "2": "SRS", "3": "FSRT", "4": "WBRT", "5": "HA-WBRT",
                 "9": "Other"},
    "sys_setting": {"1": "Neoadjuvant", "2": "Adjuvant", "3": "Metastatic"},
    "sg_start_dose": {"1": "10 mg/kg", "2": "7.5 mg/kg", "3": "5 mg/kg"},
    "adm_day": {"1": "D1", "8": "D8"},
    "adm_dose_level": {"1": "10 mg/kg", "2": "7.5 mg/kg", "3": "5 mg/kg"},
    "adm_status": {"1": "Given", "2": "Delayed", "3": "Omitted"},
    "adm_delay_reason": {"1": "AE", "2": "Logistics", "3": "Other"},
    "cm_category": {"1": "Corticosteroid", "2": "G-CSF", "3": "Antiepileptic",
                    "4": "Antidiarrhoeal", "5": "Antiemetic", "6": "Transfusion",
                    "7": "Antibiotic", "8": "Bevacizumab/mannitol",
                    "9": "CNS local therapy during SG", "99": "Other"},
    "gcsf_type": {"1": "Short-acting", "2": "Pegylated"},
    "gcsf_purpose": {"1": "Primary prophylaxis", "2": "Secondary prophylaxis",
                     "3": "Treatment"},
    "ia_type": {"1": "Baseline", "2": "Follow-up"},
    "ea_type": {"1": "Baseline", "2": "Follow-up"},
    "ia_modality": {"1": "MRI", "2": "CT"},
    "ia_nontarget": {"0": "Absent", "1": "Non-CR/non-PD", "2": "Unequivocal PD", "9": "NE"},
    "ea_nontarget": {"0": "Absent", "1": "Non-CR/non-PD", "2": "Unequivocal PD", "9": "NE"},
    "ia_new_lesion": {"0": "No", "1": "Yes", "2": "Equivocal"},
    "ea_new_lesion": {"0": "No", "1": "Yes", "2": "Equivocal"},
    "ia_lmd": {"0": "Absent", "1": "Stable", "2": "Improved", "3": "PD", "9": "NE"},
    "ia_new_confirmed": _CONF, "ia_clin_tumour": _YESNO, "ia_pseudoprog": _YESNO,
    "adm_reduced": _YESNO, "st_after_ipd": _YESNO,
    "first_pd_pattern": {"1": "Intracranial only", "2": "Extracranial only", "3": "Both"},
    "cm_cns_type": {"1": "Surgery", "2": "SRS", "3": "FSRT", "4": "WBRT", "5": "HA-WBRT",
                    "9": "Other"},
    "ia_steroid_change": {"1": "Decreased", "2": "Stable", "3": "Increased"},
    "ia_clinical": {"1": "Improved", "2": "Stable", "3": "Worse"},
    "ia_rano_inv": _RESP, "ea_recist_inv": _RESP,
    "ae_grade": {str(i): str(i) for i in range(1, 6)},
    "ae_relation": {"1": "Related", "2": "Not related", "3": "Unknown"},
    "ae_action": {"1": "None", "2": "Interrupted/delayed", "3": "Reduced", "4": "Discontinued"},
    "ae_outcome": {"1": "Recovered", "2": "Recovering", "3": "Not recovered", "4": "Sequelae",
                   "5": "Fatal", "9": "Unknown"},
    "eot_reason": {"1": "Intracranial PD", "2": "Extracranial PD", "3": "Both", "4": "Toxicity",
                   "5": "Patient choice", "6": "Death", "7": "Clinical deterioration",
                   "8": "Lost to follow-up", "99": "Other"},
    "ipd_criterion": {"1": "Target", "2": "Non-target", "3": "New lesion", "4": "LMD",
                      "5": "Clinical"},
    "vital_status": {"1": "Alive", "2": "Dead", "3": "Lost to follow-up"},
    "death_cause": {"1": "Intracranial PD", "2": "Extracranial PD", "3": "Treatment-related",
                    "4": "Other", "9": "Unknown"},
}

#: The study dictionary's own wording (redcap_project v1), so label-valued columns read back
#: without a dictionary object too.
LABELS.update({
    "consent_type": {"1": "Written informed consent", "2": "Waiver of consent (ethics approved)"},
    "menopausal": {"1": "Premenopausal", "2": "Postmenopausal", "3": "Not applicable"},
    "subtype_sg": {"1": "HR+/HER2-negative", "2": "TNBC", "3": "Other"},
    "bm_count_cat": {"1": "1", "2": "2-3", "3": "4-10", "4": "More than 10"},
    "bm_status": {"1": "Untreated, newly diagnosed", "2": "Previously treated, stable", "3": "Previously treated, progressing (active)"},
    "cns_type": {"1": "Surgery", "2": "SRS (single-fraction stereotactic radiosurgery)", "3": "FSRT (fractionated stereotactic radiotherapy)", "4": "WBRT", "5": "Hippocampal-avoidance WBRT", "9": "Other"},
    "sg_start_dose": {"1": "10 mg/kg (starting dose)", "2": "7.5 mg/kg (1st reduction)", "3": "5 mg/kg (2nd reduction)"},
    "adm_dose_level": {"1": "10 mg/kg (starting dose)", "2": "7.5 mg/kg (1st reduction)", "3": "5 mg/kg (2nd reduction)"},
    "adm_status": {"1": "Given as planned", "2": "Delayed", "3": "Omitted"},
    "adm_delay_reason": {"1": "Adverse event", "2": "Logistics", "3": "Other"},
    "cm_category": {"1": "Corticosteroid", "2": "G-CSF", "3": "Antiepileptic", "4": "Antidiarrhoeal", "5": "Antiemetic", "6": "Transfusion", "7": "Antibiotic", "8": "Bevacizumab or mannitol (oedema / radionecrosis)", "9": "CNS local therapy during SG", "99": "Other"},
    "cm_cns_type": {"1": "Surgery", "2": "SRS (single-fraction stereotactic radiosurgery)", "3": "FSRT (fractionated stereotactic radiotherapy)", "4": "WBRT", "5": "Hippocampal-avoidance WBRT", "9": "Other"},
    "ia_nontarget": {"0": "Absent", "1": "Present: non-CR/non-PD", "2": "Unequivocal progression", "9": "Not evaluable"},
    "ia_lmd": {"0": "Absent", "1": "Stable", "2": "Improved", "3": "Progression", "9": "Not evaluable"},
    "ia_rano_inv": {"1": "CR", "2": "PR", "3": "SD", "4": "PD", "5": "NE", "6": "Non-CR/non-PD"},
    "ea_nontarget": {"0": "Absent", "1": "Present: non-CR/non-PD", "2": "Unequivocal progression", "9": "Not evaluable"},
    "ea_recist_inv": {"1": "CR", "2": "PR", "3": "SD", "4": "PD", "5": "NE", "6": "Non-CR/non-PD"},
    "ae_grade": {"1": "Grade 1", "2": "Grade 2", "3": "Grade 3", "4": "Grade 4", "5": "Grade 5"},
    "ae_action": {"1": "None", "2": "Interrupted or delayed", "3": "Dose reduced", "4": "Discontinued"},
    "ae_outcome": {"1": "Recovered", "2": "Recovering", "3": "Not recovered", "4": "Recovered with sequelae", "5": "Fatal", "9": "Unknown"},
    "st_type": {"1": "Chemotherapy", "2": "Antibody-drug conjugate", "3": "Endocrine therapy", "4": "Targeted therapy", "5": "Immunotherapy", "6": "CNS radiotherapy", "7": "CNS surgery", "9": "Other"},
    "eot_reason": {"1": "Intracranial progression", "2": "Extracranial progression", "3": "Intracranial and extracranial progression", "4": "Toxicity", "5": "Patient choice", "6": "Death", "7": "Clinical deterioration", "8": "Lost to follow-up", "99": "Other"},
    "ipd_criterion": {"1": "Target lesions", "2": "Non-target lesions", "3": "New lesion", "4": "Leptomeningeal disease", "5": "Clinical deterioration"},
    "death_cause": {"1": "Intracranial progression", "2": "Extracranial progression", "3": "Treatment-related", "4": "Other", "9": "Unknown"},
})

_KEYS = ["record_id", "redcap_data_access_group", "redcap_repeat_instance"]


@dataclass
class StudyData:
    """Canonical coded frames, one per form, plus the labels to display codes with."""

    forms: dict[str, pd.DataFrame]
    labels: dict[str, dict[str, str]] = field(default_factory=dict)

    def __getitem__(self, form: str) -> pd.DataFrame:
        return self.forms[form]

    @property
    def record_ids(self) -> list[str]:
        """Every record that appears in any form, enrolment order first."""
        seen: dict[str, None] = {}
        for name in ["enrolment", *self.forms]:
            for rid in self.forms[name]["record_id"]:
                seen.setdefault(rid, None)
        return list(seen)

    def one_per_record(self, *forms: str) -> pd.DataFrame:
        """The non-repeating forms joined on record_id, one row per known record.

        A form named twice, or a column (e.g. a checkbox ``name___code``) that an earlier
        form already brought, is taken once, from the first: pandas would otherwise suffix
        the names (``_x``/``_y``) or refuse the merge."""
        out = pd.DataFrame({"record_id": pd.Series(self.record_ids, dtype=object)})
        dag = pd.Series(dtype=object)
        for name in dict.fromkeys(forms):
            frame = self.forms[name].drop_duplicates("record_id", keep="first")
            dag = dag.combine_first(frame.set_index("record_id")["redcap_data_access_group"])
            new = [c for c in frame.columns if c not in _KEYS and c not in out.columns]
            out = out.merge(frame[["record_id", *new]], on="record_id", how="left")
        out["redcap_data_access_group"] = out["record_id"].map(dag)
        return out

    def label(self, field_name: str, code: Any) -> str:
        """The display label of a code (the code itself when it has none)."""
        if code is None or (isinstance(code, float) and np.isnan(code)):
            return "Missing"
        return self.labels.get(field_name, {}).get(str(code), str(code))


def prepare(tables: Any) -> StudyData:
    """Return :class:`StudyData` from a StudyTables, a flat export or a form mapping."""
    if isinstance(tables, StudyData):
        return tables
    dictionary = getattr(tables, "dictionary", None)
    labels = _labels_from(dictionary)
    raw = getattr(tables, "raw", None)
    if isinstance(raw, pd.DataFrame):
        return StudyData(_split_flat(raw), labels)
    if isinstance(tables, pd.DataFrame):
        return StudyData(_split_flat(tables), labels)
    if isinstance(tables, Mapping):
        forms = {name: _canonical(name, tables.get(name), labels) for name in SCHEMA}
        return StudyData(forms, labels)
    raise AnalysisInputError(
        f"cannot analyse a {type(tables).__name__}: pass StudyTables, a flat export "
        "DataFrame or a mapping form name -> DataFrame"
    )


def _labels_from(dictionary: Any) -> dict[str, dict[str, str]]:
    labels = {k: dict(v) for k, v in LABELS.items()}
    try:  # the controlled AE term list, when the dictionary package provides it
        from sgbm_redcap.dictionary.ctcae import CTCAE_TERMS

        labels["ae_term"] = {str(k): str(v) for k, v in CTCAE_TERMS.items()}
    except ImportError:  # pragma: no cover - the dictionary package is built in parallel
        logger.debug("sgbm_redcap.dictionary.ctcae not available; AE terms shown as codes")
    if dictionary is None or not hasattr(dictionary, "get"):
        return labels
    for form_fields in SCHEMA.values():
        for name, kind in form_fields.items():
            found = dictionary.get(name)
            choices = getattr(found, "choices", None) if found is not None else None
            if kind == "code" and choices:
                labels[name] = {str(k): str(v) for k, v in choices.items()}
    if (term := dictionary.get("ae_term")) is not None and getattr(term, "choices", None):
        labels["ae_term"] = {str(k): str(v) for k, v in term.choices.items()}
    return labels


def _split_flat(flat: pd.DataFrame) -> dict[str, pd.DataFrame]:
    if "record_id" not in flat.columns:
        raise AnalysisInputError("the flat export has no record_id column", column="record_id")
    instrument = flat.get("redcap_repeat_instrument", pd.Series("", index=flat.index))
    instrument = instrument.fillna("").astype(str)
    forms = {}
    for name in SCHEMA:
        rows = flat[instrument == name] if name in REPEATING_FORMS else flat[instrument == ""]
        forms[name] = _canonical(name, rows, {})
    return forms


def _canonical(form: str, frame: pd.DataFrame | None, labels: dict) -> pd.DataFrame:
    spec = SCHEMA[form]
    if frame is None:
        frame = pd.DataFrame(columns=["record_id"])
    frame = frame.reset_index(drop=True)
    if "record_id" not in frame.columns:
        raise AnalysisInputError(f"form {form!r} has no record_id column", column="record_id")
    n = len(frame)
    columns: dict[str, Any] = {"record_id": frame["record_id"].astype(str).to_numpy()}
    dag = frame.get("redcap_data_access_group")
    columns["redcap_data_access_group"] = (
        [None if _blank(v) else v for v in dag] if dag is not None else [None] * n)
    inst = frame.get("redcap_repeat_instance")
    columns["redcap_repeat_instance"] = (
        pd.to_numeric(inst, errors="coerce").to_numpy(dtype=float) if inst is not None
        else np.full(n, np.nan))
    for name, kind in spec.items():
        column = frame[name] if name in frame.columns else None
        columns[name] = _convert(column, n, name, kind, labels)
    wanted = CHECKBOXES.get(form, ())
    for name in (c for c in frame.columns if c.split("___")[0] in wanted and "___" in c):
        columns[name] = _convert(frame[name], n, name, "code", labels)
    return pd.DataFrame(columns)


def _blank(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""


def _convert(column: pd.Series | None, n: int, name: str, kind: str, labels: dict) -> Any:
    if column is None:
        if kind == "date":
            return pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]").to_numpy()
        return np.full(n, np.nan) if kind == "num" else [None] * n
    if kind == "date":
        if pd.api.types.is_datetime64_any_dtype(column.dtype):
            return column.astype("datetime64[ns]").to_numpy()
        values = [None if _blank(v) else v for v in column]
        return pd.to_datetime(pd.Series(values, dtype=object), errors="coerce",
                              format="ISO8601").astype("datetime64[ns]").to_numpy()
    if kind == "num":
        values = [None if _blank(v) else v for v in column]
        return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(
            dtype=float)
    if kind == "text":
        return [None if _blank(v) else v for v in column]
    by_label = {v.strip().lower(): k for k, v in (labels.get(name) or LABELS.get(name, {})).items()}
    return [_to_code(v, by_label) for v in column]


def _to_code(value: Any, by_label: dict[str, str]) -> str | None:
    if _blank(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else str(value)
    text = str(value).strip()
    if text in by_label.values():
        return text
    return by_label.get(text.lower(), text)
