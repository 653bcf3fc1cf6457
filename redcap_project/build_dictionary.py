"""Write ``data_dictionary.csv``: the SG-BM-RWS REDCap data dictionary.

The dictionary is written from Python so that the 18-column CSV is always well formed
(quoting, column count, choice syntax) and so that the ``ae_term`` choices come from the one
controlled list in ``sgbm_redcap.dictionary.ctcae``. Edit this file, run it, commit both::

    .venv/bin/python redcap_project/build_dictionary.py

Field names and codes listed in docs/CONTRACTS.md §3 are binding for other packages: never
rename them or re-code their choices (``sgbm-redcap dictionary diff`` classifies that as
destroying data). Conventions: yesno 1 = Yes / 0 = No, dates ``date_ymd``, "9" = not done /
not evaluable / unknown, "99" = other where a list is long; only fields the analyses cannot do
without are Required, so that a site can save a partial form and come back.

Missing data codes (``project.toml`` ``[missing_data_codes]``: UNK, ND, NASK, ASKU, NA) are
for the fields that have no choice list to hold a "9": a number or date the site cannot know
(``ND`` for a biomarker not done) is entered as the code, never left blank, so that a blank
still means "not entered yet". Fields where a code is meaningless carry ``@NOMISSING``: the
direct identifiers (an MRN could be "NA") and the data_queries form, which the sweep writes.
"""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from sgbm_redcap.dictionary.ctcae import choices_string as ctcae_choices  # noqa: E402
from sgbm_redcap.dictionary.model import UI_HEADER  # noqa: E402

HEADER = list(UI_HEADER)
#: the action tag that keeps missing data codes out of a field (docs/dictionary.md)
NOMISSING = "@NOMISSING"
#: the note of a measurement a site may not have: the missing data code to enter
NOT_DONE = "Not done or not tested: enter ND (missing data code), do not leave it blank"

#: Earliest plausible date for most study dates (SG was first approved in 2020; diagnoses and
#: prior therapies go further back).
STUDY_DATE_MIN = "2019-01-01"
HISTORY_DATE_MIN = "1980-01-01"


@dataclass
class Row:
    name: str
    form: str
    field_type: str
    label: str
    choices: str = ""
    note: str = ""
    validation: str = ""
    vmin: str = ""
    vmax: str = ""
    identifier: bool = False
    branching: str = ""
    required: bool = False
    section: str = ""
    alignment: str = ""
    annotation: str = ""
    matrix_group: str = ""

    def cells(self) -> list[str]:
        return [
            self.name,
            self.form,
            self.section,
            self.field_type,
            self.label,
            self.choices,
            self.note,
            self.validation,
            self.vmin,
            self.vmax,
            "y" if self.identifier else "",
            self.branching,
            "y" if self.required else "",
            self.alignment,
            "",
            self.matrix_group,
            "",
            self.annotation,
        ]


def ch(*pairs: tuple[object, str]) -> str:
    return " | ".join(f"{code}, {label}" for code, label in pairs)


YESNO = ""  # yesno fields carry no choices string
DOSE_LEVELS = ch((1, "10 mg/kg (starting dose)"), (2, "7.5 mg/kg (1st reduction)"),
                 (3, "5 mg/kg (2nd reduction)"))
ASSESS_TYPE = ch((1, "Baseline"), (2, "Follow-up"))
NONTARGET = ch((0, "Absent"), (1, "Present: non-CR/non-PD"), (2, "Unequivocal progression"),
               (9, "Not evaluable"))
NEW_LESION = ch((0, "No"), (1, "Yes"), (2, "Equivocal"))
RESPONSE = ch((1, "CR"), (2, "PR"), (3, "SD"), (4, "PD"), (5, "NE"), (6, "Non-CR/non-PD"))
UGT1A1 = ch((1, "Wild type"), (2, "Heterozygous"), (3, "Homozygous"), (9, "Not tested"))
CNS_THERAPY = ch((1, "Surgery"), (2, "SRS (single-fraction stereotactic radiosurgery)"),
                 (3, "FSRT (fractionated stereotactic radiotherapy)"), (4, "WBRT"),
                 (5, "Hippocampal-avoidance WBRT"), (9, "Other"))
CNS_RT_CODES = "[{f}] = '2' or [{f}] = '3' or [{f}] = '4' or [{f}] = '5'"


class Builder:
    """Collects rows form by form; helpers keep each field to one readable line."""

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.form = ""
        self._section = ""

    def start(self, form: str) -> None:
        self.form = form

    def section(self, text: str) -> None:
        self._section = text

    def add(self, name: str, field_type: str, label: str, **kw: object) -> Row:
        row = Row(name=name, form=self.form, field_type=field_type, label=label, **kw)  # type: ignore[arg-type]
        if self._section:
            row.section, self._section = self._section, ""
        self.rows.append(row)
        return row

    def text(self, name: str, label: str, **kw: object) -> Row:
        return self.add(name, "text", label, **kw)

    def date(self, name: str, label: str, vmin: str = STUDY_DATE_MIN, **kw: object) -> Row:
        kw.setdefault("note", "YYYY-MM-DD")
        return self.add(name, "text", label, validation="date_ymd", vmin=vmin, **kw)

    def integer(self, name: str, label: str, vmin: int, vmax: int, **kw: object) -> Row:
        return self.add(name, "text", label, validation="integer", vmin=str(vmin), vmax=str(vmax), **kw)

    def number(self, name: str, label: str, vmin: float, vmax: float, **kw: object) -> Row:
        return self.add(name, "text", label, validation="number", vmin=_num(vmin), vmax=_num(vmax), **kw)

    def yesno(self, name: str, label: str, **kw: object) -> Row:
        return self.add(name, "yesno", label, **kw)

    def radio(self, name: str, label: str, choices: str, **kw: object) -> Row:
        return self.add(name, "radio", label, choices=choices, **kw)

    def dropdown(self, name: str, label: str, choices: str, **kw: object) -> Row:
        return self.add(name, "dropdown", label, choices=choices, **kw)

    def checkbox(self, name: str, label: str, choices: str, **kw: object) -> Row:
        return self.add(name, "checkbox", label, choices=choices, **kw)

    def calc(self, name: str, label: str, formula: str, **kw: object) -> Row:
        return self.add(name, "calc", label, choices=formula, **kw)

    def notes(self, name: str, label: str, **kw: object) -> Row:
        return self.add(name, "notes", label, **kw)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def build() -> list[Row]:
    b = Builder()

    # ---------------------------------------------------------------- enrolment
    b.start("enrolment")
    b.text("record_id", "Study ID",
           note="Assigned by REDCap as <site>-<number>; never use the hospital number here")
    b.text("site_patient_id", "Hospital medical record number (MRN)", identifier=True,
           required=True, note="Kept at the site only; never shown in reports",
           annotation=NOMISSING)
    b.date("screening_date", "Screening date", required=True)
    b.date("enrol_date", "Enrolment date", branching="[eligible] = '1'",
           note="YYYY-MM-DD; date the patient was entered into the study")
    b.section("Inclusion criteria (all must be Yes)")
    b.yesno("inc_age18", "Age 18 years or older at SG start", required=True)
    b.yesno("inc_histology", "Histologically confirmed breast cancer", required=True)
    b.yesno("inc_bm_imaging", "Brain metastases diagnosed by contrast MRI/CT (reviewed by an "
            "associate-senior physician) or by pathology", required=True)
    b.yesno("inc_sg_received", "Received sacituzumab govitecan, with medication records",
            required=True)
    b.yesno("inc_clin_stable", "Clinically stable: no uncontrolled severe infection, no "
            "uncontrolled seizures in the past 3 months, no organ failure (NYHA IV, Child-Pugh "
            "C, CKD stage 5)", required=True)
    b.yesno("inc_followup", "Able to be followed up", required=True)
    b.section("Exclusion criteria (all must be No)")
    b.yesno("exc_other_cancer", "Another active primary cancer within the past 5 years",
            required=True)
    b.yesno("exc_no_consent", "Unable to consent or to be followed, and no guardian",
            required=True)
    b.yesno("exc_trial", "Taking part in a concurrent interventional trial", required=True)
    b.yesno("exc_investigator", "Excluded by investigator judgement", required=True)
    b.section("Consent and eligibility")
    b.radio("consent_type", "Consent", ch((1, "Written informed consent"),
                                          (2, "Waiver of consent (ethics approved)")),
            required=True)
    b.date("consent_date", "Date of written consent", branching="[consent_type] = '1'",
           required=True)
    b.yesno("eligible", "Eligible for the study", required=True,
            note="Yes only if every inclusion criterion is Yes and every exclusion criterion is No")
    b.text("inelig_reason", "Reason not eligible", branching="[eligible] = '0'", required=True,
           note="Name the failed criterion; feeds the screening flow diagram")

    # ---------------------------------------------------------------- demographics
    b.start("demographics")
    b.date("birth_date", "Date of birth", vmin="1920-01-01", identifier=True, required=True,
           annotation=NOMISSING)
    b.radio("sex", "Sex", ch((1, "Female"), (2, "Male")), required=True)
    b.calc("age_sg_start", "Age at SG start (years)",
           "rounddown(datediff([birth_date], [sg_start_date], \"y\"), 0)",
           note="Derived from date of birth and SG start date")
    b.number("height_cm", "Height (cm)", 120, 210)
    b.number("weight_kg", "Weight at SG start (kg)", 30, 180, required=True,
             note="Needed to convert mg/kg to mg")
    b.radio("menopausal", "Menopausal status", ch((1, "Premenopausal"), (2, "Postmenopausal"),
                                                  (3, "Not applicable")))
    b.radio("ecog", "ECOG performance status at SG start",
            ch((0, "0"), (1, "1"), (2, "2"), (3, "3"), (4, "4")), required=True)
    b.integer("kps", "Karnofsky performance status at SG start (%)", 0, 100,
              note="Multiples of 10; leave blank if not recorded (needed for the breast GPA)")
    b.checkbox("comorbid", "Comorbidities",
               ch((1, "Hepatic"), (2, "Renal"), (3, "Cardiac"), (4, "Diabetes"), (5, "Other"),
                  (0, "None")))
    b.section("Baseline laboratory values (last before SG start; copy the laboratory's "
              "reference range)")
    b.date("lab_date", "Date of baseline laboratory tests")
    labs = [
        # name, label, unit choices, value range, reference range bounds
        ("anc", "Absolute neutrophil count (ANC)", ch((1, "x10^9/L"), (2, "cells/uL")), 0, 50000),
        ("wbc", "White blood cell count", ch((1, "x10^9/L"), (2, "cells/uL")), 0, 500000),
        ("plt", "Platelet count", ch((1, "x10^9/L"), (3, "x10^3/uL")), 0, 2000),
        ("hb", "Haemoglobin", ch((4, "g/L"), (5, "g/dL"), (6, "mmol/L")), 0, 250),
        ("alt", "ALT", ch((7, "U/L"),), 0, 5000),
        ("ast", "AST", ch((7, "U/L"),), 0, 5000),
        ("tbil", "Total bilirubin", ch((8, "umol/L"), (9, "mg/dL")), 0, 1000),
        ("creat", "Creatinine", ch((8, "umol/L"), (9, "mg/dL")), 0, 3000),
        ("albumin", "Albumin", ch((4, "g/L"), (5, "g/dL")), 0, 80),
        ("potassium", "Potassium", ch((10, "mmol/L"),), 0, 10),
        ("magnesium", "Magnesium", ch((10, "mmol/L"), (9, "mg/dL")), 0, 10),
        ("sodium", "Sodium", ch((10, "mmol/L"),), 80, 200),
    ]
    for name, label, units, lo, hi in labs:
        b.number(name, label, lo, hi, note="Value as reported, in the unit chosen below")
        b.dropdown(f"{name}_unit", f"{label}: unit", units,
                   branching=f"[{name}] <> ''")
        b.number(f"{name}_lln", f"{label}: lower limit of normal", lo, hi,
                 branching=f"[{name}] <> ''", note="Same unit as the value")
        b.number(f"{name}_uln", f"{label}: upper limit of normal", lo, hi,
                 branching=f"[{name}] <> ''", note="Same unit as the value")

    # ---------------------------------------------------------------- tumour
    b.start("tumour")
    b.date("diag_date", "Date of first breast cancer diagnosis", vmin=HISTORY_DATE_MIN,
           required=True)
    b.radio("stage_diag", "Stage at first diagnosis",
            ch((1, "I"), (2, "II"), (3, "III"), (4, "IV"), (9, "Unknown")))
    b.yesno("de_novo_iv", "De novo stage IV (metastatic at first diagnosis)", required=True)
    b.radio("histology", "Histology", ch((1, "Invasive ductal / NST"), (2, "Invasive lobular"),
                                         (3, "Other")))
    b.radio("tumour_grade", "Histological grade", ch((1, "G1"), (2, "G2"), (3, "G3"),
                                                      (9, "Unknown")))
    b.section("Receptor status (most recent specimen before SG start)")
    b.radio("biomarker_specimen", "Specimen the receptor status comes from",
            ch((1, "Primary tumour"), (2, "Extracranial metastasis"), (3, "Brain metastasis")))
    b.date("biopsy_date", "Date of that specimen", vmin=HISTORY_DATE_MIN)
    b.integer("er_pct", "ER (% positive nuclei)", 0, 100, required=True,
              note="0 if negative; ER-low is 1-10%")
    b.calc("er_low", "ER-low (1-10%)",
           "if([er_pct] = '', '', if([er_pct] >= 1 and [er_pct] <= 10, 1, 0))",
           note="Derived: 1 = ER-low")
    b.integer("pr_pct", "PR (% positive nuclei)", 0, 100, required=True)
    b.radio("her2_ihc", "HER2 IHC score", ch((0, "0"), (1, "1+"), (2, "2+"), (3, "3+")),
            required=True)
    b.radio("her2_ish", "HER2 ISH result", ch((0, "Negative"), (1, "Positive"),
                                              (9, "Not done")),
            note="Required for IHC 2+; Not done if no ISH was performed")
    b.calc("her2_low", "HER2-low",
           "if([her2_ihc] = '', '', if([her2_ihc] = '1' or ([her2_ihc] = '2' and "
           "[her2_ish] = '0'), 1, if([her2_ihc] = '2' and [her2_ish] <> '1', '', 0)))",
           note="Derived: 1 = IHC 1+ or IHC 2+/ISH negative; blank if IHC 2+ without ISH")
    b.yesno("receptor_conversion", "Receptor conversion between primary tumour and metastasis")
    b.radio("subtype_sg", "Subtype at SG start", ch((1, "HR+/HER2-negative"), (2, "TNBC"),
                                                     (3, "Other")), required=True)
    b.integer("ki67_pct", "Ki-67 (%)", 0, 100, note=NOT_DONE)
    b.radio("gbrca", "Germline BRCA1/2", ch((1, "Pathogenic variant"), (2, "No pathogenic variant"),
                                             (9, "Not tested")))
    b.number("pdl1_cps", "PD-L1 combined positive score (22C3)", 0, 100, note=NOT_DONE)
    b.integer("trop2_hscore", "Trop-2 IHC H-score", 0, 300, note=NOT_DONE)
    b.integer("trop2_pct", "Trop-2 membranous staining (% of tumour cells)", 0, 100,
              note=NOT_DONE)
    b.radio("ugt1a1_28", "UGT1A1*28 genotype", UGT1A1, required=True)
    b.radio("ugt1a1_6", "UGT1A1*6 genotype (c.211G>A)", UGT1A1, required=True)
    b.section("Metastatic disease at SG start")
    b.date("first_met_date", "Date of first metastasis", vmin=HISTORY_DATE_MIN, required=True)
    b.checkbox("ec_mets", "Extracranial metastatic sites at SG start",
               ch((1, "Liver"), (2, "Lung"), (3, "Bone"), (4, "Lymph nodes"), (5, "Other"),
                  (0, "None")), required=True)
    b.yesno("visceral_mets", "Visceral metastases at SG start")
    b.integer("ec_sites_n", "Number of extracranial metastatic organ sites", 0, 10)

    # ---------------------------------------------------------------- brain_mets_baseline
    b.start("brain_mets_baseline")
    b.date("bm_diag_date", "Date brain metastases were first diagnosed", vmin=HISTORY_DATE_MIN,
           required=True)
    b.radio("bm_diag_method", "How brain metastases were diagnosed",
            ch((1, "MRI"), (2, "CT"), (3, "Pathology")))
    b.yesno("bm_at_first_met", "Brain metastases present at first metastatic diagnosis")
    b.section("Baseline brain imaging before SG")
    b.date("bm_baseline_scan_date", "Date of baseline brain imaging", required=True,
           note="YYYY-MM-DD; the last scan before SG start")
    b.radio("bm_baseline_modality", "Modality", ch((1, "MRI"), (2, "CT")))
    b.number("bm_slice_mm", "Slice thickness (mm)", 0.5, 10)
    b.integer("bm_count", "Number of brain metastases", 0, 200, required=True,
              note="0 if leptomeningeal disease only")
    b.radio("bm_count_cat", "Number of brain metastases (category)",
            ch((1, "1"), (2, "2-3"), (3, "4-10"), (4, "More than 10")),
            branching="[bm_count] <> '0'",
            note="Use when the exact count is uncertain")
    b.number("bm_largest_mm", "Longest diameter of the largest lesion (mm)", 0, 100,
             branching="[bm_count] <> '0'")
    b.checkbox("bm_location", "Location of brain metastases",
               ch((1, "Supratentorial"), (2, "Infratentorial"), (3, "Brainstem")),
               branching="[bm_count] <> '0'")
    b.integer("bm_measurable_n", "Number of measurable lesions (at least 10 mm)", 0, 200,
              branching="[bm_count] <> '0'")
    b.yesno("bm_symptomatic", "Symptomatic brain metastases", required=True)
    b.checkbox("bm_symptoms", "Symptoms",
               ch((1, "Headache"), (2, "Seizure"), (3, "Focal neurological deficit"),
                  (4, "Raised intracranial pressure"), (5, "Other")),
               branching="[bm_symptomatic] = '1'")
    b.yesno("bm_edema", "Peritumoural oedema or mass effect")
    b.yesno("lmd", "Leptomeningeal disease", required=True)
    b.checkbox("lmd_method", "How leptomeningeal disease was diagnosed",
               ch((1, "MRI"), (2, "CSF cytology")), branching="[lmd] = '1'")
    b.dropdown("lmd_type", "EANO-ESMO leptomeningeal metastasis type",
               ch((11, "Type IA"), (12, "Type IB"), (13, "Type IC"), (14, "Type ID"),
                  (21, "Type IIA"), (22, "Type IIB"), (23, "Type IIC"), (24, "Type IID")),
               branching="[lmd] = '1'",
               note="I = CSF cytology positive; A linear, B nodular, C both, D neither")
    b.radio("bm_status", "Brain metastasis status at SG start",
            ch((1, "Untreated, newly diagnosed"), (2, "Previously treated, stable"),
               (3, "Previously treated, progressing (active)")), required=True,
            note="Active = new untreated lesions, or treated lesions that progressed without "
                 "CNS-directed therapy since")
    b.section("CNS medication at SG start")
    b.yesno("steroid_at_start", "Corticosteroids at SG start", required=True)
    b.number("steroid_dex_mg", "Dose, dexamethasone equivalent (mg/day)", 0, 100,
             branching="[steroid_at_start] = '1'", required=True)
    b.yesno("aed_at_start", "Antiepileptic drugs at SG start", required=True)
    b.text("aed_agent", "Antiepileptic agent(s)", branching="[aed_at_start] = '1'")

    # ---------------------------------------------------------------- prior_cns_therapy (R)
    b.start("prior_cns_therapy")
    b.radio("cns_type", "Type of local CNS therapy", CNS_THERAPY, required=True,
            note="One instance per course")
    b.text("cns_type_other", "Other local CNS therapy, specify", branching="[cns_type] = '9'")
    b.radio("cns_resection", "Extent of resection", ch((1, "Gross total"), (2, "Subtotal"),
                                                        (3, "Biopsy only")),
            branching="[cns_type] = '1'")
    b.date("cns_start_date", "Start date", vmin=HISTORY_DATE_MIN, required=True)
    b.date("cns_end_date", "End date", vmin=HISTORY_DATE_MIN,
           note="YYYY-MM-DD; same as start for surgery or single-fraction SRS")
    b.number("cns_dose_gy", "Total dose (Gy)", 1, 80, branching=CNS_RT_CODES.format(f="cns_type"))
    b.integer("cns_fractions", "Number of fractions", 1, 40,
              branching=CNS_RT_CODES.format(f="cns_type"))
    b.text("cns_lesions", "Lesions treated (lesion IDs)",
           note="Same IDs as the target lesions of the intracranial assessments, e.g. TL1, TL3")
    b.yesno("cns_memantine", "Memantine given",
            branching="[cns_type] = '4' or [cns_type] = '5'")

    # ---------------------------------------------------------------- prior_systemic_therapy (R)
    b.start("prior_systemic_therapy")
    b.radio("sys_setting", "Setting", ch((1, "Neoadjuvant"), (2, "Adjuvant"), (3, "Metastatic")),
            required=True, note="One instance per line of therapy")
    b.integer("sys_line", "Metastatic line number", 1, 20, branching="[sys_setting] = '3'",
              required=True)
    b.checkbox("sys_agents", "Agents",
               ch((1, "Anthracycline"), (2, "Taxane"), (3, "Capecitabine"), (4, "Platinum"),
                  (5, "Eribulin"), (6, "Vinorelbine"), (7, "Gemcitabine"),
                  (8, "Irinotecan or other topoisomerase-I inhibitor"), (9, "Other chemotherapy"),
                  (10, "Endocrine therapy"), (11, "CDK4/6 inhibitor"),
                  (12, "PI3K/AKT/mTOR inhibitor"), (20, "Trastuzumab deruxtecan (T-DXd)"),
                  (21, "Other antibody-drug conjugate"), (22, "Immune checkpoint inhibitor"),
                  (23, "PARP inhibitor"), (24, "Anti-HER2 agent (not an ADC)"),
                  (25, "Bevacizumab or other anti-angiogenic"), (99, "Other")),
               required=True)
    b.text("sys_agents_other", "Other agents, specify", branching="[sys_agents(99)] = '1'")
    b.date("sys_start_date", "Start date", vmin=HISTORY_DATE_MIN, required=True)
    b.date("sys_end_date", "End date", vmin=HISTORY_DATE_MIN)
    b.radio("sys_best_response", "Best response", ch((1, "CR"), (2, "PR"), (3, "SD"), (4, "PD"),
                                                     (5, "NE"), (9, "Unknown")),
            branching="[sys_setting] = '3'")
    b.radio("sys_end_reason", "Reason it ended", ch((1, "Progression"), (2, "Toxicity"),
                                                    (3, "Completed as planned"), (4, "Other"),
                                                    (9, "Unknown")))

    # ---------------------------------------------------------------- sg_treatment
    b.start("sg_treatment")
    b.date("sg_start_date", "SG start date (first infusion; the index date)", required=True)
    b.integer("sg_line", "Line of therapy for metastatic disease", 1, 20, required=True)
    b.radio("sg_label_use", "Use", ch((1, "On-label"), (2, "Off-label")))
    b.radio("sg_start_dose", "Starting dose", DOSE_LEVELS, required=True)
    b.yesno("sg_combination", "Given in combination with another anticancer agent",
            required=True)
    b.checkbox("sg_combo_partner", "Combination partner",
               ch((1, "Immune checkpoint inhibitor"), (2, "Endocrine therapy"),
                  (3, "Anti-angiogenic agent"), (9, "Other")),
               branching="[sg_combination] = '1'")
    b.yesno("sg_concurrent_cns_rt", "CNS radiotherapy concurrent with SG start (within 7 days)")
    b.date("last_cns_rt_date", "End date of the last CNS radiation before SG start",
           vmin=HISTORY_DATE_MIN,
           note="YYYY-MM-DD; the latest cns_end_date of prior CNS radiotherapy; blank if never "
                "irradiated")
    b.calc("days_last_rt_to_sg", "Days from last CNS radiation to SG start",
           "if([last_cns_rt_date] = '', '', datediff([last_cns_rt_date], [sg_start_date], "
           "\"d\", true))",
           note="Derived; under 28 days flags possible radiation confounding")

    # ---------------------------------------------------------------- sg_administration (R)
    b.start("sg_administration")
    b.date("adm_date", "Date (planned date if omitted)", required=True,
           note="YYYY-MM-DD; one instance per planned infusion (D1 and D8 of each cycle)")
    b.integer("adm_cycle", "Cycle", 1, 200, required=True)
    b.radio("adm_day", "Day of cycle", ch((1, "D1"), (8, "D8")), required=True)
    b.radio("adm_status", "Status", ch((1, "Given as planned"), (2, "Delayed"), (3, "Omitted")),
            required=True)
    b.radio("adm_dose_level", "Dose level", DOSE_LEVELS, branching="[adm_status] <> '3'",
            required=True)
    b.number("adm_weight_kg", "Weight used for dosing (kg)", 30, 180,
             branching="[adm_status] <> '3'")
    b.number("adm_dose_mg", "Actual dose given (mg)", 0, 2000, branching="[adm_status] <> '3'")
    b.integer("adm_delay_days", "Delay (days)", 1, 120, branching="[adm_status] = '2'",
              required=True)
    b.radio("adm_delay_reason", "Reason for delay or omission",
            ch((1, "Adverse event"), (2, "Logistics"), (3, "Other")),
            branching="[adm_status] = '2' or [adm_status] = '3'", required=True)
    b.text("adm_delay_ae", "Adverse event that caused it",
           branching="[adm_delay_reason] = '1'", note="CTCAE term, as in the AE form")
    b.yesno("adm_reduced", "Dose reduced at this administration",
            branching="[adm_status] <> '3'")
    b.radio("adm_reduce_reason", "Reason for the reduction",
            ch((1, "Adverse event"), (3, "Other")), branching="[adm_reduced] = '1'")

    # ---------------------------------------------------------------- concomitant_care (R)
    b.start("concomitant_care")
    b.radio("cm_category", "Category",
            ch((1, "Corticosteroid"), (2, "G-CSF"), (3, "Antiepileptic"), (4, "Antidiarrhoeal"),
               (5, "Antiemetic"), (6, "Transfusion"), (7, "Antibiotic"),
               (8, "Bevacizumab or mannitol (oedema / radionecrosis)"),
               (9, "CNS local therapy during SG"), (99, "Other")),
            required=True, note="One instance per agent or procedure")
    b.text("cm_agent", "Agent or procedure", required=True)
    b.date("cm_start_date", "Start date", required=True)
    b.yesno("cm_ongoing", "Ongoing")
    b.date("cm_stop_date", "Stop date", branching="[cm_ongoing] <> '1'")
    b.number("cm_dex_mg", "Dose, dexamethasone equivalent (mg/day)", 0, 100,
             branching="[cm_category] = '1'", required=True)
    b.radio("gcsf_type", "G-CSF type", ch((1, "Short-acting"), (2, "Pegylated")),
            branching="[cm_category] = '2'", required=True)
    b.radio("gcsf_purpose", "G-CSF purpose", ch((1, "Primary prophylaxis"),
                                                (2, "Secondary prophylaxis"), (3, "Treatment")),
            branching="[cm_category] = '2'", required=True)
    b.radio("cm_cns_type", "Type of CNS local therapy", CNS_THERAPY,
            branching="[cm_category] = '9'", required=True)
    b.yesno("cm_cns_for_pd", "Given for documented intracranial progression",
            branching="[cm_category] = '9'", required=True)
    b.text("cm_cns_lesions", "Lesions treated (lesion IDs)", branching="[cm_category] = '9'")

    # ---------------------------------------------------------------- intracranial_assessment (R)
    b.start("intracranial_assessment")
    b.date("ia_date", "Assessment date (brain imaging)", required=True,
           note="YYYY-MM-DD; one instance per imaging visit, baseline first")
    b.radio("ia_type", "Assessment", ASSESS_TYPE, required=True)
    b.radio("ia_modality", "Modality", ch((1, "MRI"), (2, "CT")), required=True)
    b.number("ia_slice_mm", "Slice thickness (mm)", 0.5, 10)
    b.yesno("ia_same_modality", "Same modality as baseline", branching="[ia_type] = '2'")
    b.section("Target lesions (RANO-BM: up to 5, each at least 10 mm at baseline)")
    for n in range(1, 6):
        branch = "" if n == 1 else f"[ia_tl{n - 1}_ld] <> ''"
        b.number(f"ia_tl{n}_ld", f"Target lesion {n}: longest diameter (mm)", 0, 200,
                 branching=branch,
                 note="0 if it disappeared; 5 if too small to measure; leave blank if not "
                      "evaluable")
    b.calc("ia_sld", "Sum of longest diameters (mm)",
           "if([ia_tl1_ld] = '', '', sum([ia_tl1_ld], [ia_tl2_ld], [ia_tl3_ld], [ia_tl4_ld], "
           "[ia_tl5_ld]))", note="Derived")
    b.section("Non-target, new lesions, leptomeninges")
    b.radio("ia_nontarget", "Non-target lesions", NONTARGET, required=True)
    b.radio("ia_new_lesion", "New lesion", NEW_LESION, branching="[ia_type] = '2'",
            required=True)
    b.radio("ia_new_confirmed", "Equivocal new lesion confirmed on a later scan",
            ch((1, "Confirmed"), (2, "Not confirmed"), (3, "Not yet known")),
            branching="[ia_new_lesion] = '2'")
    b.radio("ia_lmd", "Leptomeningeal disease",
            ch((0, "Absent"), (1, "Stable"), (2, "Improved"), (3, "Progression"),
               (9, "Not evaluable")), required=True)
    b.section("Steroids and clinical status")
    b.number("ia_steroid_dex_mg", "Corticosteroid dose on the assessment date, dexamethasone "
             "equivalent (mg/day)", 0, 100, note="0 if none")
    b.radio("ia_steroid_change", "Steroid dose compared with baseline",
            ch((1, "Decreased"), (2, "Stable"), (3, "Increased")), branching="[ia_type] = '2'")
    b.radio("ia_clinical", "Neurological clinical status",
            ch((1, "Improved"), (2, "Stable"), (3, "Worse")), branching="[ia_type] = '2'")
    b.yesno("ia_clin_tumour", "Worsening attributable to tumour",
            branching="[ia_clinical] = '3'")
    b.yesno("ia_pseudoprog", "Suspected radionecrosis or pseudoprogression",
            branching="[ia_type] = '2'")
    b.radio("ia_rano_inv", "Investigator RANO-BM time-point response", RESPONSE,
            branching="[ia_type] = '2'", required=True)
    b.yesno("ia_central_review", "Reviewed by a central or second reader")

    # ---------------------------------------------------------------- extracranial_assessment (R)
    b.start("extracranial_assessment")
    b.date("ea_date", "Assessment date (body imaging)", required=True,
           note="YYYY-MM-DD; one instance per imaging visit, baseline first")
    b.radio("ea_type", "Assessment", ASSESS_TYPE, required=True)
    b.radio("ea_modality", "Modality", ch((1, "MRI"), (2, "CT"), (3, "PET-CT"), (9, "Other")))
    b.section("Target lesions (RECIST 1.1: up to 5, at most 2 per organ)")
    for n in range(1, 6):
        branch = "" if n == 1 else f"[ea_tl{n - 1}_ld] <> ''"
        b.number(f"ea_tl{n}_ld", f"Target lesion {n}: longest diameter (mm; short axis for "
                 "nodes)", 0, 300, branching=branch,
                 note="0 if it disappeared; 5 if too small to measure; leave blank if not "
                      "evaluable")
    b.calc("ea_sld", "Sum of diameters (mm)",
           "if([ea_tl1_ld] = '', '', sum([ea_tl1_ld], [ea_tl2_ld], [ea_tl3_ld], [ea_tl4_ld], "
           "[ea_tl5_ld]))", note="Derived")
    b.radio("ea_nontarget", "Non-target lesions", NONTARGET, required=True)
    b.radio("ea_new_lesion", "New lesion", NEW_LESION, branching="[ea_type] = '2'",
            required=True)
    b.radio("ea_recist_inv", "Investigator RECIST 1.1 time-point response", RESPONSE,
            branching="[ea_type] = '2'", required=True)

    # ---------------------------------------------------------------- adverse_events (R)
    b.start("adverse_events")
    # 85 terms: REDCap's auto-complete dropdown lets a site type part of the term
    b.dropdown("ae_term", "Adverse event (CTCAE v5.0 term)", ctcae_choices(), required=True,
               validation="autocomplete",
               annotation="", note="One instance per event and grade episode; type part of "
                                   "the term; choose Other only if the term is not listed")
    b.text("ae_term_other", "Other adverse event, verbatim term",
           branching="[ae_term] = '999'", required=True)
    b.text("ae_ctcae_version", "CTCAE version", annotation="@DEFAULT='5.0' @READONLY",
           note="Filled in automatically")
    b.date("ae_onset_date", "Onset date", required=True)
    b.yesno("ae_ongoing", "Ongoing", required=True)
    b.date("ae_end_date", "Resolution date", branching="[ae_ongoing] <> '1'")
    b.radio("ae_grade", "Maximum CTCAE grade",
            ch((1, "Grade 1"), (2, "Grade 2"), (3, "Grade 3"), (4, "Grade 4"), (5, "Grade 5")),
            required=True)
    b.yesno("ae_serious", "Serious adverse event", required=True)
    b.checkbox("ae_sae_criteria", "Seriousness criteria",
               ch((1, "Death"), (2, "Life-threatening"), (3, "Hospitalisation or longer stay"),
                  (4, "Persistent disability"), (5, "Congenital anomaly"),
                  (6, "Other medically important event")),
               branching="[ae_serious] = '1'", required=True)
    b.radio("ae_relation", "Relationship to SG",
            ch((1, "Related"), (2, "Not related"), (3, "Unknown")), required=True)
    b.radio("ae_action", "Action taken with SG",
            ch((1, "None"), (2, "Interrupted or delayed"), (3, "Dose reduced"),
               (4, "Discontinued")), required=True)
    b.checkbox("ae_treatment", "Treatment given",
               ch((1, "G-CSF"), (2, "Antibiotics"), (3, "Transfusion"), (4, "Hospitalisation"),
                  (5, "Other"), (0, "None")))
    b.radio("ae_outcome", "Outcome",
            ch((1, "Recovered"), (2, "Recovering"), (3, "Not recovered"),
               (4, "Recovered with sequelae"), (5, "Fatal"), (9, "Unknown")), required=True)
    b.yesno("ae_aesi", "Adverse event of special interest")
    b.radio("ae_source", "Captured from", ch((1, "Laboratory results"), (2, "Clinical notes")))

    # ---------------------------------------------------------------- subsequent_therapy (R)
    b.start("subsequent_therapy")
    b.radio("st_type", "Type of subsequent anticancer therapy",
            ch((1, "Chemotherapy"), (2, "Antibody-drug conjugate"), (3, "Endocrine therapy"),
               (4, "Targeted therapy"), (5, "Immunotherapy"), (6, "CNS radiotherapy"),
               (7, "CNS surgery"), (9, "Other")), required=True,
            note="One instance per therapy after the end of SG")
    b.text("st_agent", "Agent(s) or procedure")
    b.date("st_start_date", "Start date", required=True)
    b.yesno("st_cns_local", "CNS local therapy", required=True)
    b.yesno("st_after_ipd", "Given after intracranial progression")

    # ---------------------------------------------------------------- end_of_treatment
    b.start("end_of_treatment")
    b.yesno("eot_ongoing", "SG still ongoing", required=True,
            note="Update at each data cut; No once SG has stopped for good")
    b.date("eot_last_dose_date", "Date of last SG dose", branching="[eot_ongoing] = '0'",
           required=True)
    b.radio("eot_reason", "Reason SG was stopped",
            ch((1, "Intracranial progression"), (2, "Extracranial progression"),
               (3, "Intracranial and extracranial progression"), (4, "Toxicity"),
               (5, "Patient choice"), (6, "Death"), (7, "Clinical deterioration"),
               (8, "Lost to follow-up"), (99, "Other")),
            branching="[eot_ongoing] = '0'", required=True)
    b.text("eot_toxicity_ae", "Adverse event that led to stopping",
           branching="[eot_reason] = '4'", note="CTCAE term, as in the AE form")
    b.text("eot_reason_other", "Other reason, specify", branching="[eot_reason] = '99'")
    b.yesno("sg_beyond_ipd", "SG continued beyond intracranial progression with local therapy")

    # ---------------------------------------------------------------- follow_up
    b.start("follow_up")
    b.date("ipd_date", "Date of intracranial progression",
           note="YYYY-MM-DD; blank if no intracranial progression so far")
    b.radio("ipd_criterion", "Intracranial progression by",
            ch((1, "Target lesions"), (2, "Non-target lesions"), (3, "New lesion"),
               (4, "Leptomeningeal disease"), (5, "Clinical deterioration")),
            branching="[ipd_date] <> ''", required=True)
    b.date("epd_date", "Date of extracranial progression",
           note="YYYY-MM-DD; blank if no extracranial progression so far")
    b.radio("first_pd_pattern", "Pattern of first progression",
            ch((1, "Intracranial only"), (2, "Extracranial only"), (3, "Both")),
            branching="[ipd_date] <> '' or [epd_date] <> ''")
    b.section("Vital status")
    b.date("last_contact_date", "Date of last contact (last known alive)", required=True)
    b.radio("vital_status", "Vital status", ch((1, "Alive"), (2, "Dead"),
                                               (3, "Lost to follow-up")), required=True)
    b.date("death_date", "Date of death", branching="[vital_status] = '2'", required=True)
    b.radio("death_cause", "Cause of death",
            ch((1, "Intracranial progression"), (2, "Extracranial progression"),
               (3, "Treatment-related"), (4, "Other"), (9, "Unknown")),
            branching="[vital_status] = '2'", required=True)
    b.date("ltfu_date", "Date lost to follow-up", branching="[vital_status] = '3'")

    # ---------------------------------------------------------------- data_queries (R)
    b.start("data_queries")
    ro = "@READONLY @NOMISSING"  # the sweep writes this form: no missing data codes
    b.text("dq_id", "Query ID", required=True, annotation=ro,
           note="Written by the data-query sweep: rule:record:form:instance:field")
    b.text("dq_rule", "Rule", annotation=ro)
    b.radio("dq_severity", "Severity", ch((1, "Error"), (2, "Warning")), annotation=ro)
    b.text("dq_form", "Form", annotation=ro)
    b.integer("dq_instance", "Instance", 0, 9999, annotation=ro, note="0 if not repeating")
    b.text("dq_field", "Field", annotation=ro)
    b.notes("dq_message", "Query", annotation=ro)
    b.radio("dq_status", "Status", ch((1, "Open"), (2, "Answered"), (3, "Closed"),
                                      (4, "Reopened")), required=True, annotation=NOMISSING,
            note="Sites: answer below and set to Answered; only the sweep closes or reopens")
    b.date("dq_opened_date", "Date opened", annotation=ro)
    b.notes("dq_site_response", "Site response", annotation=NOMISSING,
            note="Say what was corrected, or why the value is right")
    b.date("dq_answered_date", "Date answered", annotation=NOMISSING)
    b.date("dq_closed_date", "Date closed", annotation=ro)
    b.notes("dq_note", "Note from the sweep", annotation=ro)
    return b.rows


def render(rows: list[Row]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow(row.cells())
    return buf.getvalue()


def main() -> None:
    out = HERE / "data_dictionary.csv"
    out.write_text(render(build()), encoding="utf-8", newline="")


if __name__ == "__main__":
    main()
