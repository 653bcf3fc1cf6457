"""A seeded, realistic SG-BM-RWS cohort with a manifest of deliberately planted data problems.

``generate_cohort(n, seed=..., problem_rate=...)`` simulates *n* screened patients across
4-6 sites (one REDCap Data Access Group each) enrolled since 2024-08, as REDCap flat import
rows (docs/CONTRACTS.md §3 names and codes, every value a string, '' for blank).  It then
copies the cohort and plants data problems in a share of the records: at most one problem
per record, so every problem is unambiguous, and each is listed in ``Cohort.manifest``
(kinds: :data:`PROBLEM_KINDS`).  ``Cohort.clean_records`` is the cohort before planting:
dates in order, values in range and RANO-BM calls that agree with the diameters.

The same seed always gives the same cohort.  The patient simulation is in
:mod:`sgbm_redcap.synthetic.simulate`, the response arithmetic in
:mod:`sgbm_redcap.synthetic.rano`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

from sgbm_redcap.dictionary.project import study_project
from sgbm_redcap.synthetic import rano
from sgbm_redcap.synthetic.simulate import (
    AE_PROFILE,
    DOSE_MG_PER_KG,
    GRADE5_TERMS,
    Patient,
    PatientSimulator,
    iso,
)

if TYPE_CHECKING:
    import pandas as pd

    from sgbm_redcap.dictionary import Dictionary

log = logging.getLogger(__name__)

DEFAULT_SEED = 20240801
DEFAULT_EXTRACT_DATE = date(2026, 11, 25)
STUDY_START = date(2024, 8, 1)
#: Sites when the caller gives none: (DAG unique name, label).
DEFAULT_SITES: tuple[tuple[str, str], ...] = (
    ("site_01", "Site 01"),
    ("site_02", "Site 02"),
    ("site_03", "Site 03"),
    ("site_04", "Site 04"),
    ("site_05", "Site 05"),
)
#: Share of screened patients who are not eligible (enrolment form only).
SCREEN_FAILURE_RATE = 0.05

#: Every kind of planted problem, the vocabulary of ``PlantedProblem.kind``:
#:
#: ``missing_required``  a field marked required in the dictionary left blank
#: ``impossible_date``   two dates in an impossible order; ``detail`` starts with the variant:
#:                       ``ae_onset_before_sg_start``, ``ae_end_before_onset``,
#:                       ``death_before_last_assessment``, ``bm_diagnosis_after_sg_start``
#: ``out_of_range``      a number outside its field's validation min/max (unit slips)
#: ``invalid_choice``    a code that is not one of the field's choices (a retired code)
#: ``eligibility_violation``  eligible = 1 while an inclusion item is 0 or an exclusion item 1
#: ``response_contradicts_measurements``  ia_rano_inv disagrees with the target diameters
#: ``dose_reescalation`` adm_dose_level back up after a reduction (the label forbids it)
#: ``grade5_without_death``  an AE of grade 5 (fatal) in a patient whose vital status is alive
#: ``stale_last_contact``  alive, not lost to follow-up, last contact > 120 days before extract
#: ``missing_baseline_scan``  no baseline intracranial assessment (ia_type = 1) at all
PROBLEM_KINDS: tuple[str, ...] = (
    "missing_required",
    "impossible_date",
    "out_of_range",
    "invalid_choice",
    "eligibility_violation",
    "response_contradicts_measurements",
    "dose_reescalation",
    "grade5_without_death",
    "stale_last_contact",
    "missing_baseline_scan",
)

#: Non-repeating instruments and the fields the generator fills, in dictionary order.
NONREPEATING_FORMS: dict[str, tuple[str, ...]] = {
    "enrolment": (
        "site_patient_id", "screening_date", "enrol_date", "inc_age18", "inc_histology",
        "inc_bm_imaging", "inc_sg_received", "inc_clin_stable", "inc_followup",
        "exc_other_cancer", "exc_no_consent", "exc_trial", "exc_investigator", "consent_type",
        "consent_date", "eligible", "inelig_reason",
    ),
    "demographics": (
        "birth_date", "sex", "height_cm", "weight_kg", "menopausal", "ecog", "kps",
        *(f"comorbid___{c}" for c in "123450"), "lab_date",
        *(f"{lab}{suffix}" for lab in ("anc", "wbc", "plt", "hb", "alt", "ast", "tbil", "creat",
                                       "albumin", "potassium", "magnesium", "sodium")
          for suffix in ("", "_unit", "_lln", "_uln")),
    ),
    "tumour": (
        "diag_date", "stage_diag", "de_novo_iv", "histology", "tumour_grade",
        "biomarker_specimen", "biopsy_date", "er_pct", "pr_pct", "her2_ihc", "her2_ish",
        "receptor_conversion", "subtype_sg", "ki67_pct", "gbrca", "pdl1_cps", "trop2_hscore",
        "trop2_pct", "ugt1a1_28", "ugt1a1_6", "first_met_date",
        *(f"ec_mets___{c}" for c in "123450"), "visceral_mets", "ec_sites_n",
    ),
    "brain_mets_baseline": (
        "bm_diag_date", "bm_diag_method", "bm_at_first_met", "bm_baseline_scan_date",
        "bm_baseline_modality", "bm_slice_mm", "bm_count", "bm_count_cat", "bm_largest_mm",
        *(f"bm_location___{c}" for c in "123"), "bm_measurable_n", "bm_symptomatic",
        *(f"bm_symptoms___{c}" for c in "12345"), "bm_edema", "lmd",
        *(f"lmd_method___{c}" for c in "12"), "lmd_type", "bm_status", "steroid_at_start",
        "steroid_dex_mg", "aed_at_start", "aed_agent",
    ),
    "sg_treatment": (
        "sg_start_date", "sg_line", "sg_label_use", "sg_start_dose", "sg_combination",
        *(f"sg_combo_partner___{c}" for c in "1239"), "sg_concurrent_cns_rt",
        "last_cns_rt_date",
    ),
    "end_of_treatment": (
        "eot_ongoing", "eot_last_dose_date", "eot_reason", "eot_toxicity_ae", "eot_reason_other",
        "sg_beyond_ipd",
    ),
    "follow_up": (
        "ipd_date", "ipd_criterion", "epd_date", "first_pd_pattern", "last_contact_date",
        "vital_status", "death_date", "death_cause", "ltfu_date",
    ),
}
#: Repeating instruments, from the project (``project.toml``; data_queries stays empty: the
#: sweep fills it).
REPEATING_FORMS: tuple[str, ...] = tuple(study_project().repeating_forms)
KEY_COLUMNS = ("record_id", "redcap_repeat_instrument", "redcap_repeat_instance")

#: Fallback ae_term codes (MedDRA LLT codes of the CTCAE v5 terms) when the dictionary
#: package's controlled list is not importable.
_FALLBACK_AE_CODES = {
    "neutropenia": "10029366", "febrile_neutropenia": "10016288", "anaemia": "10002272",
    "wbc": "10049182", "platelets": "10035528", "diarrhoea": "10012727", "nausea": "10028813",
    "vomiting": "10047700", "constipation": "10010774", "anorexia": "10002646",
    "fatigue": "10016256", "alopecia": "10001760", "alt": "10001551", "ast": "10003481",
    "hypokalemia": "10021018", "mucositis": "10028130", "headache": "10019211",
    "seizure": "10039906", "infusion_reaction": "10051792",
}


@dataclass(frozen=True)
class PlantedProblem:
    """One deliberate data problem.  ``instance`` is None on non-repeating forms (and for a
    repeating row that is missing altogether); ``field`` is the field a check should name."""

    problem_id: str
    kind: str
    record_id: str
    form: str
    instance: int | None
    field: str
    detail: str


@dataclass
class Cohort:
    """The generated cohort.  ``records`` carries the planted problems; ``clean_records`` is
    the same cohort without them.  Rows hold only their own instrument's columns (plus the
    three key columns); :meth:`to_frame` gives the full flat table."""

    records: list[dict[str, str]]
    clean_records: list[dict[str, str]]
    dags: dict[str, str]
    manifest: list[PlantedProblem]
    sites: list[tuple[str, str]]
    extract_date: date
    seed: int
    #: form -> {field: extra choice code} for invalid_choice problems; the seeder widens
    #: these fields' choices during import, the way a retired code lingers in real projects
    retired_codes: dict[str, set[str]] = field(default_factory=dict)

    @property
    def record_ids(self) -> list[str]:
        return list(self.dags)

    def planted_value(self, problem: PlantedProblem) -> str | None:
        """The value a planted problem left in ``records`` (None when its row is gone)."""
        instrument = "" if problem.instance is None else problem.form
        instance = "" if problem.instance is None else str(problem.instance)
        for row in self.records:
            if (row["record_id"] == problem.record_id
                    and row["redcap_repeat_instrument"] == instrument
                    and row["redcap_repeat_instance"] == instance):
                return row.get(problem.field)
        return None

    def to_frame(self, *, clean: bool = False, dictionary: Dictionary | None = None,
                 with_dag: bool = True) -> pd.DataFrame:
        """The flat table as a REDCap flat export of these rows would look: a DataFrame of
        strings ('' for blank).  With a ``Dictionary`` the columns follow
        ``dictionary.export_columns()`` and calc fields are computed (REDCap ignores calc
        values on import and computes them itself); without one, columns appear as first
        seen and calc fields are absent."""
        import pandas as pd

        rows = self.clean_records if clean else self.records
        frame = pd.DataFrame.from_records(rows)
        if dictionary is not None:
            wanted = list(KEY_COLUMNS) + [c for c in dictionary.export_columns()
                                          if c not in KEY_COLUMNS]
            frame = frame.reindex(columns=wanted)
        frame = frame.fillna("").astype(str)
        if with_dag:
            frame.insert(3, "redcap_data_access_group", frame["record_id"].map(self.dags))
        if dictionary is not None:
            _fill_calcs(frame, dictionary)
            _fill_export_zeros(frame, dictionary)
        return frame


def _fill_calcs(frame, dictionary) -> None:
    """Compute calc fields in place, on the rows of their own instrument."""
    from sgbm_redcap.logic import evaluate, parse

    repeating = set(REPEATING_FORMS)
    for f in dictionary.fields:
        if f.field_type != "calc" or not f.choices_raw:
            continue
        rows = (frame["redcap_repeat_instrument"] == f.form) if f.form in repeating else (
            frame["redcap_repeat_instrument"] == "")
        values = evaluate(parse(f.choices_raw), frame[rows])
        frame.loc[rows, f.name] = [_calc_text(v) for v in values]


def _fill_export_zeros(frame, dictionary) -> None:
    """What a flat export shows where nothing was entered: unchecked checkbox options are
    "0" and an untouched form's status is "0" (Incomplete), on the rows of their own form."""
    repeating = set(REPEATING_FORMS)
    base = frame["redcap_repeat_instrument"] == ""
    for form in dictionary.forms:
        rows = (frame["redcap_repeat_instrument"] == form) if form in repeating else base
        names = [f"{f.name}___{code}" for f in dictionary.form_fields(form)
                 if f.field_type == "checkbox" for code in f.choices]
        names.append(f"{form}_complete")
        for name in names:
            if name in frame.columns:
                frame.loc[rows & (frame[name] == ""), name] = "0"


def _calc_text(value) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    if number != number:  # NaN: blank
        return ""
    return str(int(number)) if number.is_integer() else f"{number:.10g}"


def default_ae_codes() -> dict[str, str]:
    """ae_term codes for the generator's AE keys, from the dictionary package's CTCAE list
    when it is there (matched on the term text), else MedDRA LLT codes."""
    try:
        from sgbm_redcap.dictionary.ctcae import CTCAE_TERMS
    except ImportError:
        return dict(_FALLBACK_AE_CODES)
    by_term = {term.strip().lower(): code for code, term in CTCAE_TERMS.items()}
    codes = {}
    for key, (term, *_rest) in AE_PROFILE.items():
        code = by_term.get(term.lower())
        if code is None:
            fallback = _FALLBACK_AE_CODES[key]
            code = fallback if fallback in CTCAE_TERMS else next(
                (c for t, c in by_term.items() if t.startswith(term.lower()[:12])), fallback)
        codes[key] = code
    return codes


def generate_cohort(
    n: int = 100,
    seed: int = DEFAULT_SEED,
    problem_rate: float = 0.1,
    *,
    extract_date: date = DEFAULT_EXTRACT_DATE,
    sites: Iterable[tuple[str, str]] | None = None,
    problem_kinds: Iterable[str] = PROBLEM_KINDS,
    ae_codes: dict[str, str] | None = None,
) -> Cohort:
    """Simulate *n* screened patients and plant problems in ``problem_rate`` of them.

    ``problem_rate`` is the share of records (0-1) that carry exactly one planted problem;
    the kinds are dealt round-robin from ``problem_kinds`` in a seeded order, so any rate
    of at least ``len(problem_kinds) / n`` covers every kind.  ``sites`` are
    ``(dag_unique_name, label)`` pairs (default :data:`DEFAULT_SITES`).
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if not 0.0 <= problem_rate <= 1.0:
        raise ValueError(f"problem_rate must be between 0 and 1, got {problem_rate}")
    kinds = tuple(problem_kinds)
    unknown = sorted(set(kinds) - set(PROBLEM_KINDS))
    if unknown:
        raise ValueError(f"unknown problem kinds {unknown}; known: {PROBLEM_KINDS}")
    if extract_date < STUDY_START + timedelta(days=60):
        raise ValueError(f"extract_date {extract_date} leaves no time for enrolment after the "
                         f"study start {STUDY_START}")
    site_list = list(sites) if sites is not None else list(DEFAULT_SITES)
    if not site_list:
        raise ValueError("at least one site is needed")
    codes = ae_codes or default_ae_codes()
    patients = _simulate(n, seed, extract_date, site_list, codes)
    flat = [_flatten(p) for p in patients]
    clean_rows = [row for rows in flat for row in rows]
    planter = _Planter(random.Random(f"{seed}:plant"), extract_date, codes)
    dirty = planter.plant(patients, round(problem_rate * n), kinds)
    rows = [dict(row) if p is q else row for p, q, flat_rows in zip(dirty, patients, flat,
                                                                    strict=True)
            for row in (flat_rows if p is q else _flatten(p))]
    log.info("cohort: %d records, %d rows, %d planted problems", n, len(rows),
             len(planter.manifest))
    return Cohort(
        records=rows, clean_records=clean_rows, dags={p.record_id: p.dag for p in patients},
        manifest=planter.manifest, sites=site_list, extract_date=extract_date, seed=seed,
        retired_codes=planter.retired_codes,
    )


# -- simulation ------------------------------------------------------------------------------

def _simulate(n: int, seed: int, extract: date, sites: list[tuple[str, str]],
              ae_codes: dict[str, str]) -> list[Patient]:
    """Enrolment dates first (sites open one after another, bigger sites recruit more),
    then one independently seeded simulator per patient."""
    rng = random.Random(f"{seed}:enrolment")
    last_start = extract - timedelta(days=21)
    span = (last_start - STUDY_START).days
    opening = [STUDY_START + timedelta(days=round(i * min(120, span / 3) / max(1, len(sites))))
               for i in range(len(sites))]
    weights = [rng.uniform(0.6, 1.6) for _ in sites]
    starts = []
    for _ in range(n):
        site = rng.choices(range(len(sites)), weights=weights)[0]
        window = (last_start - opening[site]).days
        # recruitment speeds up as the study matures: sqrt-shaped cumulative enrolment
        offset = int(window * (rng.random() ** 0.8))
        starts.append((opening[site] + timedelta(days=offset), site))
    starts.sort()
    patients = []
    for i, (sg_start, site) in enumerate(starts, start=1):
        record_id = str(i)
        prng = random.Random(f"{seed}:patient:{i}")
        sim = PatientSimulator(prng, record_id, sites[site][0], sg_start, extract, ae_codes)
        if prng.random() < SCREEN_FAILURE_RATE:
            patient = sim.screen_failure()
        else:
            patient = sim.build()
        patient.values["site_patient_id"] = f"MRN{prng.randint(10**6, 10**7 - 1)}"
        patients.append(patient)
    return patients


def _flatten(p: Patient) -> list[dict[str, str]]:
    base: dict[str, str] = {"record_id": p.record_id, "redcap_repeat_instrument": "",
                            "redcap_repeat_instance": ""}
    for form, names in NONREPEATING_FORMS.items():
        if not any(p.values.get(name, "") != "" for name in names):
            continue
        for name in names:
            base[name] = p.values.get(name, "")
        base[f"{form}_complete"] = "2"
    rows = [base]
    for form in REPEATING_FORMS:
        for i, values in enumerate(p.repeats.get(form, ()), start=1):
            row = {"record_id": p.record_id, "redcap_repeat_instrument": form,
                   "redcap_repeat_instance": str(i), **values, f"{form}_complete": "2"}
            rows.append(row)
    return rows


# -- planting --------------------------------------------------------------------------------

_MISSING_REQUIRED = (
    ("demographics", "ecog"), ("demographics", "weight_kg"), ("demographics", "sex"),
    ("tumour", "subtype_sg"), ("brain_mets_baseline", "bm_status"),
    ("sg_treatment", "sg_start_dose"), ("tumour", "diag_date"),
    ("adverse_events", "ae_grade"), ("intracranial_assessment", "ia_modality"),
)
#: (form, field, make the bad value, what went wrong, (validation min, max) of the study
#: dictionary v1.0.0); a value that still lands inside the range is not planted.
_OUT_OF_RANGE = (
    ("demographics", "weight_kg", lambda v: str(round(float(v) * 10)), "weight typed x10",
     (30, 180)),
    ("demographics", "height_cm", lambda v: f"{float(v) / 100:.2f}", "height entered in metres",
     (120, 210)),
    ("tumour", "er_pct", lambda v: "950", "ER% typed with an extra digit", (0, 100)),
    ("demographics", "kps", lambda v: "180", "KPS above 100", (0, 100)),
    ("brain_mets_baseline", "steroid_dex_mg", lambda v: str(round(float(v) * 100)),
     "dose typed as hundredths of a mg", (0, 100)),
)
# (a lesion diameter is not among them: a wrong diameter also contradicts the RANO-BM call,
# which would make the problem ambiguous)
_INVALID_CHOICE = (
    ("demographics", "menopausal", "4"), ("brain_mets_baseline", "bm_status", "4"),
    ("adverse_events", "ae_relation", "4"), ("sg_administration", "adm_status", "4"),
    ("intracranial_assessment", "ia_modality", "3"), ("tumour", "her2_ihc", "4"),
)
_ELIGIBILITY = (
    ("inc_clin_stable", "0"), ("inc_bm_imaging", "0"), ("inc_histology", "0"),
    ("exc_other_cancer", "1"), ("exc_trial", "1"), ("inc_age18", "0"),
)
STALE_DAYS = 120


class _Planter:
    def __init__(self, rng: random.Random, extract: date, ae_codes: dict[str, str]):
        self.rng = rng
        self.extract = extract
        self.ae_codes = ae_codes
        self.manifest: list[PlantedProblem] = []
        self.retired_codes: dict[str, set[str]] = {}

    def plant(self, patients: list[Patient], count: int, kinds: tuple[str, ...]) -> list[Patient]:
        out = list(patients)
        if count == 0 or not kinds:
            return out
        order = list(kinds)
        self.rng.shuffle(order)
        candidates = [i for i, p in enumerate(patients) if not p.facts.get("screen_failure")]
        self.rng.shuffle(candidates)
        used: set[int] = set()
        # each kind walks the shuffled candidates once: a record that did not fit a kind is
        # not tried for it again (keeps planting linear in n)
        position = dict.fromkeys(order, 0)
        slot = 0
        misses = 0
        while len(self.manifest) < count and misses < len(order):
            kind = order[slot % len(order)]
            slot += 1
            planted = False
            while position[kind] < len(candidates):
                i = candidates[position[kind]]
                position[kind] += 1
                if i in used:
                    continue
                copy = patients[i].copy()
                problem = getattr(self, f"_{kind}")(copy)
                if problem is None:
                    continue
                form, instance, field_name, detail = problem
                pid = f"P{len(self.manifest) + 1:04d}"
                self.manifest.append(PlantedProblem(pid, kind, copy.record_id, form, instance,
                                                    field_name, detail))
                out[i] = copy
                used.add(i)
                planted = True
                break
            misses = 0 if planted else misses + 1
        if len(self.manifest) < count:
            log.warning("only %d of %d planted problems found a suitable record",
                        len(self.manifest), count)
        return out

    # each returns (form, instance, field, detail) or None when the patient does not fit

    def _row(self, p: Patient, form: str, pick: Callable[[dict[str, str]], bool]):
        rows = [(i, r) for i, r in enumerate(p.repeats.get(form, ()), start=1) if pick(r)]
        return self.rng.choice(rows) if rows else (None, None)

    def _missing_required(self, p: Patient):
        form, name = self.rng.choice(_MISSING_REQUIRED)
        if form in NONREPEATING_FORMS:
            if not p.values.get(name):
                return None
            old, p.values[name] = p.values[name], ""
            return form, None, name, f"{name} left blank (was {old})"
        i, row = self._row(p, form, lambda r: r.get(name, "") != "" and
                           r.get("ae_grade") != "5")
        if row is None:
            return None
        old, row[name] = row[name], ""
        return form, i, name, f"{name} left blank (was {old})"

    def _impossible_date(self, p: Patient):
        f = p.facts
        sg: date = f["sg_start"]  # type: ignore[assignment]
        variant = self.rng.choice(["ae_onset_before_sg_start", "ae_end_before_onset",
                                   "death_before_last_assessment",
                                   "bm_diagnosis_after_sg_start"])
        if variant == "ae_onset_before_sg_start":
            i, row = self._row(p, "adverse_events", lambda r: r["ae_grade"] != "5")
            if row is None:
                return None
            new = sg - timedelta(days=self.rng.randint(5, 40))
            row["ae_onset_date"] = iso(new)
            return ("adverse_events", i, "ae_onset_date",
                    f"{variant}: AE onset {iso(new)} before SG start {iso(sg)}")
        if variant == "ae_end_before_onset":
            i, row = self._row(p, "adverse_events", lambda r: r["ae_end_date"] != "")
            if row is None:
                return None
            onset = date.fromisoformat(row["ae_onset_date"])
            new = onset - timedelta(days=self.rng.randint(3, 20))
            row["ae_end_date"] = iso(new)
            return ("adverse_events", i, "ae_end_date",
                    f"{variant}: AE end {iso(new)} before its onset {iso(onset)}")
        if variant == "death_before_last_assessment":
            scans = [date.fromisoformat(r["ia_date"])
                     for r in p.repeats.get("intracranial_assessment", ())]
            if not f.get("dead") or len(scans) < 3:
                return None
            new = scans[-1] - timedelta(days=self.rng.randint(10, min(40, (scans[-1] - sg).days
                                                                        - 1)))
            p.values["death_date"] = iso(new)
            return ("follow_up", None, "death_date",
                    f"{variant}: death {iso(new)} before the brain scan of {iso(scans[-1])}")
        new = sg + timedelta(days=self.rng.randint(10, 60))
        if new > self.extract:
            return None
        p.values["bm_diag_date"] = iso(new)
        return ("brain_mets_baseline", None, "bm_diag_date",
                f"{variant}: brain metastases diagnosed {iso(new)}, after SG start {iso(sg)}")

    def _out_of_range(self, p: Patient):
        form, name, make, why, (low, high) = self.rng.choice(_OUT_OF_RANGE)

        def outside(value: str) -> bool:
            return value not in ("", "0") and not low <= float(make(value)) <= high

        if form in NONREPEATING_FORMS:
            old = p.values.get(name, "")
            if not outside(old):
                return None
            p.values[name] = make(old)
            return form, None, name, f"{name} = {p.values[name]} (was {old}): {why}"
        i, row = self._row(p, form, lambda r: outside(r.get(name, "")))
        if row is None:
            return None
        old = row[name]
        row[name] = make(old)
        return form, i, name, f"{name} = {row[name]} (was {old}): {why}"

    def _invalid_choice(self, p: Patient):
        form, name, bad = self.rng.choice(_INVALID_CHOICE)
        if form in NONREPEATING_FORMS:
            old = p.values.get(name, "")
            if not old:
                return None
            p.values[name] = bad
            instance = None
        else:
            instance, row = self._row(p, form, lambda r: r.get(name, "") != "")
            if row is None:
                return None
            old, row[name] = row[name], bad
        self.retired_codes.setdefault(name, set()).add(bad)
        return form, instance, name, f"{name} = {bad}, not a choice of the field (was {old})"

    def _eligibility_violation(self, p: Patient):
        name, bad = self.rng.choice(_ELIGIBILITY)
        if p.values.get("eligible") != "1":
            return None
        p.values[name] = bad
        return "enrolment", None, name, f"{name} = {bad} but eligible = 1"

    def _response_contradicts_measurements(self, p: Patient):
        rows = p.repeats.get("intracranial_assessment", [])
        if not rows or rows[0].get("ia_tl1_ld", "") == "":
            return None
        base = _lesions(rows[0])
        nadir = list(base)
        choices = []
        for i, row in enumerate(rows[1:], start=2):
            lesions = _lesions(row)
            if len(lesions) == len(base):
                st = rano.target_status(lesions, base, nadir)
                call = row["ia_rano_inv"]
                if call == rano.SD and -0.2 < st.change_from_baseline < 0.1:
                    choices.append((i, row, rano.PR, st))
                elif call == rano.PR and st.change_from_baseline <= -0.4:
                    choices.append((i, row, rano.SD, st))
                if call not in (rano.PD, rano.NE) and sum(lesions) < sum(nadir):
                    nadir = lesions
        if not choices:
            return None
        # prefer a response claimed without the shrinkage (it inflates iORR)
        claimed = [c for c in choices if c[2] == rano.PR]
        i, row, new, st = self.rng.choice(claimed or choices)
        old = row["ia_rano_inv"]
        row["ia_rano_inv"] = new
        names = {rano.PR: "PR", rano.SD: "SD"}
        return ("intracranial_assessment", i, "ia_rano_inv",
                f"call {names[new]} (was {names[old]}) but SLD changed "
                f"{st.change_from_baseline:+.0%} from baseline")

    def _dose_reescalation(self, p: Patient):
        rows = p.repeats.get("sg_administration", [])
        given = [(i, r) for i, r in enumerate(rows, start=1) if r["adm_dose_level"]]
        for k in range(1, len(given) - 1):
            (_, before), (i, row) = given[k - 1], given[k]
            if row["adm_dose_level"] > before["adm_dose_level"]:
                # the first reduced dose; re-escalate a later one
                later = given[k + 1:]
                j, target = self.rng.choice(later)
                level = before["adm_dose_level"]
                weight = float(p.values["weight_kg"])
                target["adm_dose_level"] = level
                target["adm_dose_mg"] = str(int(round(DOSE_MG_PER_KG[level] * weight / 10) * 10))
                return ("sg_administration", j, "adm_dose_level",
                        f"dose level back to {DOSE_MG_PER_KG[level]:g} mg/kg after a reduction "
                        f"at instance {i}")
        return None

    def _grade5_without_death(self, p: Patient):
        if p.values.get("vital_status") != "1":
            return None
        allowed = {self.ae_codes[k] for k in GRADE5_TERMS}
        i, row = self._row(p, "adverse_events", lambda r: r["ae_term"] in allowed)
        if row is None:
            return None
        old = row["ae_grade"]
        row.update(ae_grade="5", ae_outcome="5", ae_end_date="", ae_ongoing="0")
        return ("adverse_events", i, "ae_grade",
                f"grade 5 (fatal) AE (was grade {old}) but vital status alive")

    def _stale_last_contact(self, p: Patient):
        if p.values.get("vital_status") != "1":
            return None
        latest = max(_dates(p))
        if (self.extract - latest).days <= STALE_DAYS + 20:
            return None
        new = latest + timedelta(days=self.rng.randint(0, 14))
        old = p.values["last_contact_date"]
        p.values["last_contact_date"] = iso(new)
        return ("follow_up", None, "last_contact_date",
                f"last contact {iso(new)} ({(self.extract - new).days} days before extract; "
                f"was {old}) for a patient alive in follow-up")

    def _missing_baseline_scan(self, p: Patient):
        rows = p.repeats.get("intracranial_assessment", [])
        if len(rows) < 2 or rows[0]["ia_type"] != "1":
            return None
        removed = rows.pop(0)
        return ("intracranial_assessment", None, "ia_date",
                f"baseline brain scan of {removed['ia_date']} never entered")


def _lesions(row: dict[str, str]) -> list[int]:
    out = []
    for k in range(1, 6):
        val = row.get(f"ia_tl{k}_ld", "")
        if val == "":
            break
        out.append(int(val))
    return out


def _dates(p: Patient) -> list[date]:
    out = []
    for key, val in p.values.items():
        if key.endswith("_date") and val and key not in ("last_contact_date",):
            out.append(date.fromisoformat(val))
    for rows in p.repeats.values():
        for row in rows:
            out.extend(date.fromisoformat(v) for k, v in row.items() if k.endswith("_date") and v)
    return out
