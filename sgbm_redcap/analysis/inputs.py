"""Bring whatever the caller has into one canonical shape: form name → DataFrame with codes.

The analyses work on **REDCap codes**, never on labels: a label can be reworded in the
dictionary without changing what the data mean, a code cannot. Three inputs are accepted:

* a ``StudyTables`` (anything with a ``.raw`` flat export DataFrame): the flat export is split
  into forms and every value is read from its raw string — this is the preferred route;
* a flat export DataFrame itself (``record_id``, ``redcap_repeat_instrument``, fields …);
* a plain mapping form name → DataFrame (the typed tables of CONTRACTS §4, or hand-built test
  worlds). Categorical label columns are turned back into codes through the dictionary's
  choices when the mapping has a ``.dictionary``, else through the study dictionary's;
  values that already are codes are kept; ``boolean`` yes/no columns become ``"1"``/``"0"``.

Canonical frames have every field of :data:`SCHEMA` for their form (missing → NA): dates as
``datetime64[ns]``, numbers as float, coded choices as ``str`` codes (``None`` when blank).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from sgbm_redcap.dictionary.missing import accepts_missing_codes
from sgbm_redcap.dictionary.project import study_project
from sgbm_redcap.errors import AnalysisInputError
from sgbm_redcap.study_codes import YesNo

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
                                          "prior_systemic_therapy": ("sys_agents",),
                                          "adverse_events": ("ae_sae_criteria",)}

#: Labels the dictionary cannot give: ``her2_low`` is a calc (1 = HER2-low, 0 = not), and
#: REDCap calc fields have no choices; the analysis reads it as yes/no. Every other label
#: comes from the data dictionary (``Field.choices``).
EXTRA_LABELS: dict[str, dict[str, str]] = {
    "her2_low": {YesNo.YES.value: YesNo.YES.label, YesNo.NO.value: YesNo.NO.label},
}

_KEYS = ["record_id", "redcap_data_access_group", "redcap_repeat_instance"]


@dataclass
class StudyData:
    """Canonical coded frames, one per form, plus the labels to display codes with."""

    forms: dict[str, pd.DataFrame]
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    #: the missing data codes the forms were read without (``StudyTables.missing_reasons``:
    #: record_id, form, redcap_repeat_instance, field, code, reason): a coded value is
    #: missing (NA/None) in ``forms`` and its reason is here
    missing_reasons: pd.DataFrame = field(default_factory=pd.DataFrame)

    def reasons(self, field_name: str) -> pd.Series:
        """record_id → reason label of the records whose ``field_name`` holds a missing
        data code (first instance for a repeating form); empty when none."""
        r = self.missing_reasons
        if r.empty:
            return pd.Series(dtype=object)
        hit = r[r["field"] == field_name].drop_duplicates("record_id")
        return pd.Series(hit["reason"].to_numpy(), index=hit["record_id"].astype(str),
                         dtype=object)

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
        reasons = getattr(tables, "missing_reasons", None)
        codes = getattr(tables, "missing_codes", None)
        if codes and dictionary is not None:
            raw = _without_codes(raw, dictionary, codes)
        return StudyData(_split_flat(raw), labels,
                         reasons if isinstance(reasons, pd.DataFrame) else pd.DataFrame())
    if isinstance(tables, pd.DataFrame):
        return StudyData(_split_flat(tables), labels)
    if isinstance(tables, Mapping):
        forms = {name: _canonical(name, tables.get(name), labels) for name in SCHEMA}
        return StudyData(forms, labels)
    raise AnalysisInputError(
        f"cannot analyse a {type(tables).__name__}: pass StudyTables, a flat export "
        "DataFrame or a mapping form name -> DataFrame"
    )


def _without_codes(raw: pd.DataFrame, dictionary: Any, codes: Any) -> pd.DataFrame:
    """The flat export with every missing data code blank (``dictionary.missing``'s rule
    for which fields take one), so the analyses read a coded value as missing; the pull's
    ``missing_reasons`` keeps the code and its reason."""
    wanted = list(codes.codes)
    out = raw
    for f in dictionary:
        if (f.name not in raw.columns or f.field_type == "checkbox"
                or not accepts_missing_codes(f, dictionary.record_id)):
            continue
        coded = raw[f.name].isin(wanted)
        if coded.any():
            out = out.copy() if out is raw else out
            out.loc[coded, f.name] = ""
    return out


def _labels_from(dictionary: Any) -> dict[str, dict[str, str]]:
    """code -> label of every coded field the analyses read (and ``ae_term``): from
    ``dictionary``, and from the study dictionary for fields it lacks (or when there is
    none), so that label-valued tables without a dictionary read back too."""
    labels = {k: dict(v) for k, v in _study_labels().items()}
    if dictionary is not None and hasattr(dictionary, "get"):
        labels.update(_choices_of(dictionary))
    return labels


@lru_cache(maxsize=1)
def _study_labels() -> dict[str, dict[str, str]]:
    return {**EXTRA_LABELS, **_choices_of(study_project().dictionary)}


def _choices_of(dictionary: Any) -> dict[str, dict[str, str]]:
    names = [name for form_fields in SCHEMA.values()
             for name, kind in form_fields.items() if kind == "code"] + ["ae_term"]
    labels = {}
    for name in names:
        found = dictionary.get(name)
        choices = getattr(found, "choices", None) if found is not None else None
        if choices:
            labels[name] = {str(k): str(v) for k, v in choices.items()}
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
    known = labels.get(name) or _study_labels().get(name, {})
    by_label = {v.strip().lower(): k for k, v in known.items()}
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
