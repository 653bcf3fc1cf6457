"""The study's named codes and conventions: the one place code spells a REDCap choice code.

Analyses, checks and reports compare **codes** (the raw strings REDCap stores), never labels.
Where code must name a particular code (vital status "Dead", an EOT reason, a RANO-BM
category…) it names it here, once, in the way REDCapR's ``constant()`` names REDCap's own
codes (``form_complete`` = 2). The labels shown to people always come from the data
dictionary (``Field.choices``); the label kept beside each code here only says which answer
the code is meant to be, and ``tests/test_study_codes.py`` checks every code against
``redcap_project/data_dictionary.csv`` (the code exists, its label is this one), so a
recoded dictionary cannot silently change what the code computes.

This module imports nothing from the package: every layer may use it.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import TypeVar

#: The study's month: an average Gregorian month, 365.25 / 12 = 30.4375 days. Every time in
#: months (analysis endpoints, report tables, figures) is ``days / DAYS_PER_MONTH``.
DAYS_PER_MONTH = 30.4375

#: repeating form → the date that places an instance in time (the as-of-cut-off view and
#: the analyses' cut-off both read it)
INSTANCE_DATES: dict[str, str] = {
    "prior_cns_therapy": "cns_start_date", "prior_systemic_therapy": "sys_start_date",
    "sg_administration": "adm_date", "concomitant_care": "cm_start_date",
    "intracranial_assessment": "ia_date", "extracranial_assessment": "ea_date",
    "adverse_events": "ae_onset_date", "subsequent_therapy": "st_start_date",
    "data_queries": "dq_opened_date",
}

_C = TypeVar("_C", bound="type[Choice]")


class Choice(str, Enum):
    """A choice code: the raw string REDCap stores (``Choice`` members *are* ``str``, so
    ``frame["vital_status"] == VitalStatus.DEAD`` compares codes), with ``.label``, the
    dictionary label the code is meant to stand for, and the class's ``fields``, the
    dictionary fields whose choices it names."""

    label: str
    fields: tuple[str, ...]

    def __new__(cls, code: str, label: str) -> Choice:
        member = str.__new__(cls, code)
        member._value_ = code
        member.label = label
        return member

    def __str__(self) -> str:  # the code, on every Python version ("2", not "VitalStatus.DEAD")
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        return str.__format__(str.__str__(self), spec)


def of(*fields: str) -> Callable[[_C], _C]:
    """Class decorator: the dictionary fields whose choices a :class:`Choice` names."""
    def mark(cls: _C) -> _C:
        cls.fields = fields
        return cls
    return mark


# --------------------------------------------------------------------------- REDCap's own
class YesNo(Choice):
    """REDCap's yesno field type (every ``yesno`` field of the dictionary)."""

    YES = "1", "Yes"
    NO = "0", "No"


YesNo.fields = ()


class FormStatus(Choice):
    """REDCap's ``<form>_complete`` status (REDCapR's ``form_incomplete`` …): not in the
    dictionary CSV, REDCap adds it to every instrument."""

    INCOMPLETE = "0", "Incomplete"
    UNVERIFIED = "1", "Unverified"
    COMPLETE = "2", "Complete"


FormStatus.fields = ()


class Checkbox(Choice):
    """A checkbox option's column (``name___code``) in a flat export."""

    CHECKED = "1", "Checked"
    UNCHECKED = "0", "Unchecked"


Checkbox.fields = ()


# --------------------------------------------------------------------------- baseline
@of("subtype_sg")
class Subtype(Choice):
    HR_POSITIVE_HER2_NEGATIVE = "1", "HR+/HER2-negative"
    TNBC = "2", "TNBC"
    OTHER = "3", "Other"


@of("her2_ihc")
class Her2Ihc(Choice):
    ZERO = "0", "0"
    ONE_PLUS = "1", "1+"
    TWO_PLUS = "2", "2+"
    THREE_PLUS = "3", "3+"


@of("bm_status")
class BmStatus(Choice):
    UNTREATED = "1", "Untreated, newly diagnosed"
    TREATED_STABLE = "2", "Previously treated, stable"
    TREATED_PROGRESSING = "3", "Previously treated, progressing (active)"


@of("bm_count_cat")
class BmCount(Choice):
    ONE = "1", "1"
    TWO_TO_THREE = "2", "2-3"
    FOUR_TO_TEN = "3", "4-10"
    MORE_THAN_TEN = "4", "More than 10"


@of("ugt1a1_28", "ugt1a1_6")
class Ugt1a1(Choice):
    WILD_TYPE = "1", "Wild type"
    HETEROZYGOUS = "2", "Heterozygous"
    HOMOZYGOUS = "3", "Homozygous"
    NOT_TESTED = "9", "Not tested"


@of("cns_type", "cm_cns_type")
class CnsTherapy(Choice):
    SURGERY = "1", "Surgery"
    SRS = "2", "SRS (single-fraction stereotactic radiosurgery)"
    FSRT = "3", "FSRT (fractionated stereotactic radiotherapy)"
    WBRT = "4", "WBRT"
    HA_WBRT = "5", "Hippocampal-avoidance WBRT"
    OTHER = "9", "Other"


@of("sys_agents")
class SystemicAgent(Choice):
    """The ``sys_agents`` checkbox options code names (columns ``sys_agents___<code>``)."""

    T_DXD = "20", "Trastuzumab deruxtecan (T-DXd)"
    OTHER_ADC = "21", "Other antibody-drug conjugate"
    CDK4_6 = "11", "CDK4/6 inhibitor"
    CHECKPOINT_INHIBITOR = "22", "Immune checkpoint inhibitor"


@of("sys_setting")
class SysSetting(Choice):
    NEOADJUVANT = "1", "Neoadjuvant"
    ADJUVANT = "2", "Adjuvant"
    METASTATIC = "3", "Metastatic"


#: lab ``*_unit`` codes; each unit field offers only the units of its own quantity
@of("anc_unit", "wbc_unit", "plt_unit", "hb_unit", "albumin_unit", "alt_unit", "ast_unit",
    "tbil_unit", "creat_unit", "potassium_unit", "magnesium_unit", "sodium_unit")
class LabUnit(Choice):
    X10E9_PER_L = "1", "x10^9/L"
    CELLS_PER_UL = "2", "cells/uL"
    X10E3_PER_UL = "3", "x10^3/uL"
    G_PER_L = "4", "g/L"
    G_PER_DL = "5", "g/dL"
    MMOL_PER_L_HB = "6", "mmol/L"
    U_PER_L = "7", "U/L"
    UMOL_PER_L = "8", "umol/L"
    MG_PER_DL = "9", "mg/dL"
    MMOL_PER_L = "10", "mmol/L"


# --------------------------------------------------------------------------- treatment
@of("sg_start_dose", "adm_dose_level")
class DoseLevel(Choice):
    MG_10 = "1", "10 mg/kg (starting dose)"
    MG_7_5 = "2", "7.5 mg/kg (1st reduction)"
    MG_5 = "3", "5 mg/kg (2nd reduction)"


@of("adm_day")
class AdmDay(Choice):
    D1 = "1", "D1"
    D8 = "8", "D8"


@of("adm_status")
class AdmStatus(Choice):
    GIVEN = "1", "Given as planned"
    DELAYED = "2", "Delayed"
    OMITTED = "3", "Omitted"


@of("cm_category")
class CmCategory(Choice):
    CORTICOSTEROID = "1", "Corticosteroid"
    GCSF = "2", "G-CSF"
    ANTIEPILEPTIC = "3", "Antiepileptic"
    ANTIDIARRHOEAL = "4", "Antidiarrhoeal"
    ANTIEMETIC = "5", "Antiemetic"
    TRANSFUSION = "6", "Transfusion"
    ANTIBIOTIC = "7", "Antibiotic"
    BEVACIZUMAB_OR_MANNITOL = "8", "Bevacizumab or mannitol (oedema / radionecrosis)"
    CNS_LOCAL_THERAPY = "9", "CNS local therapy during SG"
    OTHER = "99", "Other"


@of("gcsf_type")
class GcsfType(Choice):
    SHORT_ACTING = "1", "Short-acting"
    PEGYLATED = "2", "Pegylated"


@of("gcsf_purpose")
class GcsfPurpose(Choice):
    PRIMARY_PROPHYLAXIS = "1", "Primary prophylaxis"
    SECONDARY_PROPHYLAXIS = "2", "Secondary prophylaxis"
    TREATMENT = "3", "Treatment"


@of("eot_reason")
class EotReason(Choice):
    INTRACRANIAL_PD = "1", "Intracranial progression"
    EXTRACRANIAL_PD = "2", "Extracranial progression"
    BOTH_PD = "3", "Intracranial and extracranial progression"
    TOXICITY = "4", "Toxicity"
    PATIENT_CHOICE = "5", "Patient choice"
    DEATH = "6", "Death"
    CLINICAL_DETERIORATION = "7", "Clinical deterioration"
    LOST_TO_FOLLOW_UP = "8", "Lost to follow-up"
    OTHER = "99", "Other"


# --------------------------------------------------------------------------- assessments
@of("ia_type", "ea_type")
class AssessmentType(Choice):
    BASELINE = "1", "Baseline"
    FOLLOW_UP = "2", "Follow-up"


@of("ia_rano_inv", "ea_recist_inv")
class Response(Choice):
    """Investigator RANO-BM / RECIST 1.1 time-point response."""

    CR = "1", "CR"
    PR = "2", "PR"
    SD = "3", "SD"
    PD = "4", "PD"
    NE = "5", "NE"
    NON_CR_NON_PD = "6", "Non-CR/non-PD"


@of("ia_nontarget", "ea_nontarget")
class NonTarget(Choice):
    ABSENT = "0", "Absent"
    PRESENT = "1", "Present: non-CR/non-PD"
    PROGRESSION = "2", "Unequivocal progression"
    NOT_EVALUABLE = "9", "Not evaluable"


@of("ia_new_lesion", "ea_new_lesion")
class NewLesion(Choice):
    NO = "0", "No"
    YES = "1", "Yes"
    EQUIVOCAL = "2", "Equivocal"


@of("ia_new_confirmed")
class NewLesionConfirmed(Choice):
    CONFIRMED = "1", "Confirmed"
    NOT_CONFIRMED = "2", "Not confirmed"
    NOT_YET_KNOWN = "3", "Not yet known"


@of("ia_lmd")
class LmdAssessment(Choice):
    ABSENT = "0", "Absent"
    STABLE = "1", "Stable"
    IMPROVED = "2", "Improved"
    PROGRESSION = "3", "Progression"
    NOT_EVALUABLE = "9", "Not evaluable"


@of("ia_steroid_change")
class SteroidChange(Choice):
    DECREASED = "1", "Decreased"
    STABLE = "2", "Stable"
    INCREASED = "3", "Increased"


@of("ia_clinical")
class ClinicalStatus(Choice):
    IMPROVED = "1", "Improved"
    STABLE = "2", "Stable"
    WORSE = "3", "Worse"


# --------------------------------------------------------------------------- safety
@of("ae_relation")
class AeRelation(Choice):
    RELATED = "1", "Related"
    NOT_RELATED = "2", "Not related"
    UNKNOWN = "3", "Unknown"


@of("ae_action")
class AeAction(Choice):
    NONE = "1", "None"
    INTERRUPTED_OR_DELAYED = "2", "Interrupted or delayed"
    DOSE_REDUCED = "3", "Dose reduced"
    DISCONTINUED = "4", "Discontinued"


@of("ae_grade")
class AeGrade(Choice):
    """CTCAE grade: the code is the grade."""

    GRADE_1 = "1", "Grade 1"
    GRADE_2 = "2", "Grade 2"
    GRADE_3 = "3", "Grade 3"
    GRADE_4 = "4", "Grade 4"
    GRADE_5 = "5", "Grade 5"


@of("ae_outcome")
class AeOutcome(Choice):
    RECOVERED = "1", "Recovered"
    RECOVERING = "2", "Recovering"
    NOT_RECOVERED = "3", "Not recovered"
    SEQUELAE = "4", "Recovered with sequelae"
    FATAL = "5", "Fatal"
    UNKNOWN = "9", "Unknown"


# --------------------------------------------------------------------------- follow-up
@of("vital_status")
class VitalStatus(Choice):
    ALIVE = "1", "Alive"
    DEAD = "2", "Dead"
    LOST_TO_FOLLOW_UP = "3", "Lost to follow-up"


@of("death_cause")
class DeathCause(Choice):
    INTRACRANIAL_PD = "1", "Intracranial progression"
    EXTRACRANIAL_PD = "2", "Extracranial progression"
    TREATMENT_RELATED = "3", "Treatment-related"
    OTHER = "4", "Other"
    UNKNOWN = "9", "Unknown"


# --------------------------------------------------------------------------- data queries
@of("dq_status")
class QueryStatus(Choice):
    OPEN = "1", "Open"
    ANSWERED = "2", "Answered"
    CLOSED = "3", "Closed"
    REOPENED = "4", "Reopened"


@of("dq_severity")
class QuerySeverity(Choice):
    ERROR = "1", "Error"
    WARNING = "2", "Warning"


#: every :class:`Choice` of the study, for the test against the dictionary
CHOICES: tuple[type[Choice], ...] = tuple(
    c for c in list(globals().values())
    if isinstance(c, type) and issubclass(c, Choice) and c is not Choice)
