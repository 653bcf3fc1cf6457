"""One synthetic SG-BM-RWS patient, simulated day by day from a seeded RNG.

The numbers follow docs/DOMAIN.md: SG 10 mg/kg on D1 and D8 of 21-day cycles, reductions
10 -> 7.5 -> 5 mg/kg driven by grade 3-4 neutropenia, febrile neutropenia or diarrhoea (never
re-escalated; a fourth level means discontinuation), brain imaging every 4-8 weeks with
RANO-BM calls derived from the drawn diameters, AE incidences near the SG label (§2.2, §2.4),
median iPFS around 3 months and OS around 8-9 months (§3.1).  Everything happens on or before
the extract date.  The output is a :class:`Patient`: the values of the non-repeating forms and
the rows of each repeating form, all REDCap raw strings.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from sgbm_redcap.synthetic import rano

#: the missing data code a site enters for a test not done (project.toml)
MISSING_NOT_DONE = "ND"
#: the missing data code for a value the chart does not give
MISSING_UNKNOWN = "UNK"


def _unknown_if(unknown: bool, value: str) -> str:
    """``value``, or UNK when the site cannot know it (``value`` is drawn either way, so
    the random stream, and with it the rest of the cohort, does not change)."""
    return MISSING_UNKNOWN if unknown else value


DOSE_MG_PER_KG = {"1": 10.0, "2": 7.5, "3": 5.0}

#: AE terms the generator uses: key -> (CTCAE v5 term, P(any grade), P(grade>=3),
#: highest grade CTCAE allows, onset window in days after the first dose, related to SG).
AE_PROFILE: dict[str, tuple[str, float, float, int, tuple[int, int], bool]] = {
    "neutropenia": ("Neutrophil count decreased", 0.62, 0.47, 4, (7, 24), True),
    "febrile_neutropenia": ("Febrile neutropenia", 0.06, 0.06, 4, (8, 30), True),
    "anaemia": ("Anemia", 0.40, 0.08, 4, (15, 70), True),
    "wbc": ("White blood cell decreased", 0.30, 0.12, 4, (7, 30), True),
    "platelets": ("Platelet count decreased", 0.10, 0.02, 4, (10, 45), True),
    "diarrhoea": ("Diarrhea", 0.60, 0.10, 4, (2, 30), True),
    "nausea": ("Nausea", 0.60, 0.03, 3, (1, 10), True),
    "vomiting": ("Vomiting", 0.30, 0.03, 4, (1, 15), True),
    "constipation": ("Constipation", 0.28, 0.01, 3, (3, 30), True),
    "anorexia": ("Anorexia", 0.25, 0.02, 3, (5, 40), True),
    "fatigue": ("Fatigue", 0.50, 0.04, 3, (3, 30), True),
    "alopecia": ("Alopecia", 0.45, 0.0, 2, (14, 45), True),
    "alt": ("Alanine aminotransferase increased", 0.15, 0.02, 4, (10, 60), True),
    "ast": ("Aspartate aminotransferase increased", 0.12, 0.01, 4, (10, 60), True),
    "hypokalemia": ("Hypokalemia", 0.12, 0.03, 4, (10, 60), True),
    "mucositis": ("Mucositis oral", 0.10, 0.01, 3, (5, 25), True),
    "headache": ("Headache", 0.15, 0.01, 3, (1, 90), False),
    "seizure": ("Seizure", 0.04, 0.02, 4, (1, 120), False),
    "infusion_reaction": ("Infusion related reaction", 0.05, 0.005, 4, (0, 1), True),
}
#: Terms whose grade >= 3 make a dose be withheld (and, often, reduced): label Table 2.
DOSE_LIMITING = ("neutropenia", "febrile_neutropenia", "diarrhoea")
#: Terms that CTCAE v5 allows at grade 5 (used for fatal AEs, and by the planted problems).
GRADE5_TERMS = ("febrile_neutropenia", "diarrhoea", "vomiting", "anaemia", "seizure")
LAB_TERMS = ("neutropenia", "anaemia", "wbc", "platelets", "alt", "ast", "hypokalemia")
AESI_TERMS = ("neutropenia", "febrile_neutropenia", "diarrhoea", "nausea", "vomiting",
              "anaemia", "infusion_reaction", "seizure")


@dataclass
class Patient:
    """One record: non-repeating values and repeating rows (``form -> [row, ...]``)."""

    record_id: str
    dag: str
    values: dict[str, str]
    repeats: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    #: facts the planting step needs (dates as ``date``), never exported
    facts: dict[str, object] = field(default_factory=dict)

    def copy(self) -> Patient:
        return Patient(
            self.record_id,
            self.dag,
            dict(self.values),
            {form: [dict(r) for r in rows] for form, rows in self.repeats.items()},
            dict(self.facts),
        )


def iso(d: date | None) -> str:
    return d.isoformat() if d else ""


def _num(x: float, digits: int = 1) -> str:
    text = f"{x:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _ri(rng: random.Random, low: int, high: int) -> int:
    """``rng.randint`` without its layers of argument checks (a hot path)."""
    return low + int(rng.random() * (high - low + 1))


def _choice(rng: random.Random, seq):  # type: ignore[no-untyped-def]
    return seq[int(rng.random() * len(seq))]


def _pick(rng: random.Random, weighted: dict[str, float]) -> str:
    """One key, drawn with the given weights (a lean ``random.choices``)."""
    x = rng.random() * sum(weighted.values())
    for key, weight in weighted.items():
        x -= weight
        if x < 0:
            return key
    return key


def _lognormal_days(rng: random.Random, median: float, sigma: float = 0.8) -> int:
    return max(1, int(rng.lognormvariate(math.log(median), sigma)))


class PatientSimulator:
    """Builds one :class:`Patient`; one instance per patient, seeded by the caller."""

    def __init__(
        self,
        rng: random.Random,
        record_id: str,
        dag: str,
        sg_start: date,
        extract: date,
        ae_codes: dict[str, str],
    ):
        self.rng = rng
        self.extract = extract
        self.sg_start = sg_start
        self.ae_codes = ae_codes
        self.p = Patient(record_id, dag, {})
        self.v = self.p.values

    # -- helpers -------------------------------------------------------------------------
    def day(self, n: int) -> date:
        return self.sg_start + timedelta(days=n)

    def add(self, form: str, row: dict[str, str]) -> None:
        self.p.repeats.setdefault(form, []).append(row)

    # -- the patient ---------------------------------------------------------------------
    def screen_failure(self) -> Patient:
        """A screened patient who was not eligible: enrolment form only."""
        rng = self.rng
        screening = self.sg_start - timedelta(days=_ri(rng, 3, 20))
        self._enrolment(screening, eligible=False)
        self.v["inc_sg_received"] = "0"  # never started SG in the study
        self.p.facts.update(screen_failure=True, sg_start=None, screening=screening)
        return self.p

    def build(self) -> Patient:
        rng = self.rng
        screening = self.sg_start - timedelta(days=_ri(rng, 7, 24))
        self._enrolment(screening, eligible=True)
        self._demographics()
        self._tumour()
        self._brain_baseline()
        self._prior_therapy()
        self._course()
        self.p.facts.update(screen_failure=False, sg_start=self.sg_start, screening=screening)
        return self.p

    def _enrolment(self, screening: date, *, eligible: bool) -> None:
        rng, v = self.rng, self.v
        enrol = screening + timedelta(days=_ri(rng, 0, 5))
        for name in ("inc_age18", "inc_histology", "inc_bm_imaging", "inc_sg_received",
                     "inc_clin_stable", "inc_followup"):
            v[name] = "1"
        for name in ("exc_other_cancer", "exc_no_consent", "exc_trial", "exc_investigator"):
            v[name] = "0"
        v.update(screening_date=iso(screening), enrol_date=iso(enrol) if eligible else "")
        written = rng.random() < 0.85
        v["consent_type"] = "1" if written else "2"
        v["consent_date"] = iso(screening + timedelta(days=_ri(rng, 0, (enrol - screening).days))
                                ) if written else ""
        v["eligible"] = "1" if eligible else "0"
        v["inelig_reason"] = ""
        if not eligible:
            failed, reason = _choice(rng, [
                ("inc_clin_stable", "Uncontrolled seizures in the past 3 months"),
                ("inc_bm_imaging", "Brain metastases not confirmed on contrast MRI/CT"),
                ("inc_followup", "Unable to attend follow-up"),
                ("exc_other_cancer", "Second active primary cancer within 5 years"),
                ("exc_trial", "Enrolled in an interventional trial"),
            ])
            v[failed] = "0" if failed.startswith("inc_") else "1"
            v["inelig_reason"] = reason
        self.enrol = enrol

    def _demographics(self) -> None:
        rng, v = self.rng, self.v
        age = min(82.0, max(29.0, rng.gauss(51, 10)))
        birth = self.sg_start - timedelta(days=int(age * 365.25) + _ri(rng, 0, 300))
        male = rng.random() < 0.01
        height = rng.gauss(171 if male else 159, 6)
        weight = min(95.0, max(38.0, rng.gauss(70 if male else 58, 9)))
        ecog = _pick(rng, {"0": 0.25, "1": 0.55, "2": 0.17, "3": 0.03})
        kps = {"0": (90, 100), "1": (70, 80), "2": (60, 70), "3": (40, 50)}[ecog]
        menopausal = "3" if male else ("1" if age < 48 else ("2" if age > 53 else
                                                              _choice(rng, "12")))
        lab_date = self.sg_start - timedelta(days=_ri(rng, 0, 7))
        v.update(
            birth_date=iso(birth), sex="2" if male else "1", height_cm=_num(height),
            weight_kg=_num(weight), menopausal=menopausal, ecog=ecog,
            kps=str(_choice(rng, range(kps[0], kps[1] + 1, 10))), lab_date=iso(lab_date),
        )
        for code in ("1", "2", "3", "4", "5", "0"):
            v[f"comorbid___{code}"] = "0"
        comorbid = [c for c, p in (("1", 0.08), ("2", 0.04), ("3", 0.08), ("4", 0.1),
                                   ("5", 0.1)) if rng.random() < p]
        for code in comorbid or ["0"]:
            v[f"comorbid___{code}"] = "1"
        for name, (unit, lln, uln, lo, hi, digits) in BASELINE_LABS.items():
            v[name] = _num(rng.uniform(lo, hi), digits)
            v.update({f"{name}_unit": unit, f"{name}_lln": _num(lln, 2),
                      f"{name}_uln": _num(uln, 2)})
        self.weight = float(v["weight_kg"])
        self.p.facts["age"] = age

    def _tumour(self) -> None:
        rng, v = self.rng, self.v
        de_novo = rng.random() < 0.25
        tnbc = rng.random() < 0.45
        if de_novo:
            diag = self.sg_start - timedelta(days=_ri(rng, 200, 900))
            first_met = diag
        else:
            diag = self.sg_start - timedelta(days=_ri(rng, 900, 4500))
            first_met = diag + timedelta(days=_ri(rng, 300, (self.sg_start - diag).days - 180))
        ihc = _pick(rng, {"0": 0.5, "1": 0.35, "2": 0.15} if tnbc else
                    {"0": 0.35, "1": 0.4, "2": 0.25})
        mets = {"1": 0.4, "2": 0.45, "3": 0.55, "4": 0.5, "5": 0.12}
        chosen = [code for code, p in mets.items() if rng.random() < p]
        v.update(
            diag_date=iso(diag), de_novo_iv="1" if de_novo else "0",
            er_pct="0" if tnbc else str(_choice(rng, range(10, 100, 5))),
            # an outside pathology report without PR%: the site enters UNK (missing data code)
            pr_pct="0" if tnbc else _unknown_if(de_novo and ihc == "0",
                                                str(_choice(rng, range(0, 95, 5)))),
            her2_ihc=ihc, her2_ish="0" if ihc == "2" else "9",
            subtype_sg="2" if tnbc else "1",
            # not tested: TNBC sites record ND (missing data code), the others leave it blank
            trop2_hscore=str(_ri(rng, 0, 300)) if rng.random() < 0.35 else (
                MISSING_NOT_DONE if tnbc else ""),
            ugt1a1_28=_pick(rng, {"1": 0.45, "2": 0.14, "3": 0.01, "9": 0.40}),
            ugt1a1_6=_pick(rng, {"1": 0.38, "2": 0.18, "3": 0.04, "9": 0.40}),
            first_met_date=iso(first_met),
            visceral_mets="1" if ("1" in chosen or "2" in chosen) else "0",
            ec_sites_n=str(len(chosen)), stage_diag="4" if de_novo else _choice(rng, "123"),
            histology=_pick(rng, {"1": 0.85, "2": 0.1, "3": 0.05}),
            tumour_grade=_pick(rng, {"1": 0.05, "2": 0.4, "3": 0.45, "9": 0.1}),
            biomarker_specimen=_pick(rng, {"1": 0.6, "2": 0.35, "3": 0.05}),
            ki67_pct=str(_choice(rng, range(5, 95, 5))) if rng.random() < 0.8 else (
                MISSING_NOT_DONE if de_novo else ""),
            gbrca=_pick(rng, {"1": 0.05, "2": 0.25, "9": 0.7}),
            receptor_conversion="1" if rng.random() < 0.1 else "0",
        )
        for code in ("1", "2", "3", "4", "5", "0"):
            v[f"ec_mets___{code}"] = "1" if (code in chosen or (code == "0" and not chosen)) else "0"
        self.tnbc, self.first_met, self.diag, self.de_novo = tnbc, first_met, diag, de_novo
        self.extracranial_disease = bool(chosen)

    def _brain_baseline(self) -> None:
        rng, v = self.rng, self.v
        scan = self.sg_start - timedelta(days=_ri(rng, 1, 26))
        count = int(_pick(rng, {"1": 0.25, "2": 0.15, "3": 0.15, "5": 0.15, "8": 0.15,
                                "14": 0.15}))
        count += _ri(rng, 0, 2) if count > 3 else 0
        lmd = rng.random() < 0.1
        nonmeasurable_only = rng.random() < 0.1
        measurable = 0 if nonmeasurable_only else min(count, _ri(rng, 1, 6))
        targets = sorted((_ri(rng, 10, 34) for _ in range(min(5, measurable))), reverse=True)
        largest = targets[0] + _ri(rng, 0, 3) if targets else _ri(rng, 4, 9)
        status = _pick(rng, {"1": 0.3, "2": 0.4, "3": 0.3})
        earliest = max(self.first_met, self.sg_start - timedelta(days=900))
        latest = scan - timedelta(days=60 if status != "1" else 0)
        span = max(0, (latest - earliest).days)
        bm_diag = earliest + timedelta(days=_ri(rng, 0, span)) if status != "1" else \
            scan - timedelta(days=_ri(rng, 0, 14))
        bm_diag = max(bm_diag, self.first_met)
        steroid = rng.random() < (0.45 if status != "2" else 0.15)
        dex = _choice(rng, [2, 4, 4, 6, 8, 8, 12, 16]) if steroid else 0
        cat = "1" if count == 1 else "2" if count <= 3 else "3" if count <= 10 else "4"
        v.update(
            bm_diag_date=iso(bm_diag), bm_diag_method=_pick(rng, {"1": 0.85, "2": 0.1, "3": 0.05}),
            bm_baseline_scan_date=iso(scan), bm_count=str(count), bm_count_cat=cat,
            bm_largest_mm=str(largest), bm_measurable_n=str(measurable),
            bm_symptomatic="1" if rng.random() < 0.35 else "0", lmd="1" if lmd else "0",
            bm_status=status, steroid_at_start="1" if steroid else "0",
            steroid_dex_mg=str(dex) if steroid else "",
            aed_at_start="1" if rng.random() < 0.15 else "0",
            bm_at_first_met="1" if bm_diag == self.first_met else "0",
            bm_slice_mm=_choice(rng, ["1", "1.5", "3", "5"]),
            bm_edema="1" if rng.random() < 0.4 else "0",
        )
        v["aed_agent"] = "Levetiracetam" if v["aed_at_start"] == "1" else ""
        for code in ("1", "2", "3"):
            v[f"bm_location___{code}"] = "1" if code == "1" or rng.random() < 0.3 else "0"
        for code in ("1", "2", "3", "4", "5"):
            v[f"bm_symptoms___{code}"] = "0"
        if v["bm_symptomatic"] == "1":
            v[f"bm_symptoms___{_choice(rng, '1234')}"] = "1"
        for code in ("1", "2"):
            v[f"lmd_method___{code}"] = "1" if lmd and (code == "1" or rng.random() < 0.3) else "0"
        v["lmd_type"] = _choice(rng, ["11", "12", "21", "22"]) if lmd else ""
        self.scan0, self.bm_diag, self.bm_status = scan, bm_diag, status
        self.targets, self.dex0, self.lmd = targets, dex, lmd
        self.nontarget_present = count > len(targets)
        self.modality = "1" if rng.random() < 0.9 else "2"
        v["bm_baseline_modality"] = self.modality

    def _recent_radiotherapy(self) -> date | None:
        """About one patient in five with treated BM has SRS or fractionated SRT ending in
        the week before the baseline brain scan, so within ~4 weeks of SG start (the
        radiotherapy sensitivity analysis). Drawn from a side stream seeded by the patient's
        stream, which it leaves untouched: the rest of the patient is as before."""
        side = random.Random(hash(self.rng.getstate()[1]))
        if side.random() >= 0.2:
            return None
        srs = side.random() < 0.7
        end = self.scan0 - timedelta(days=1 + int(side.random() * 6))
        start = end if srs else end - timedelta(days=4)
        self.add("prior_cns_therapy", {
            "cns_type": "2" if srs else "3", "cns_type_other": "", "cns_resection": "",
            "cns_start_date": iso(start), "cns_end_date": iso(end),
            "cns_dose_gy": "20" if srs else "27", "cns_fractions": "1" if srs else "3",
            "cns_lesions": "", "cns_memantine": "",
        })
        return end

    def _prior_therapy(self) -> None:
        rng = self.rng
        last_rt_end: date | None = None
        if self.bm_status != "1":
            courses = 1 if rng.random() < 0.7 else 2
            start = self.bm_diag + timedelta(days=_ri(rng, 3, 20))
            for _ in range(courses):
                kind = _pick(rng, {"1": 0.15, "2": 0.4, "3": 0.1, "4": 0.25, "5": 0.1})
                dose, fractions, length = {
                    "1": ("", "", 0), "2": (str(_choice(rng, [18, 20, 22, 24])), "1", 0),
                    "3": (_choice(rng, [("27", "3"), ("30", "5")])[0], "", 6),
                    "4": ("30", "10", 13), "5": ("30", "10", 13),
                }[kind]
                if kind == "3":
                    fractions = "3" if dose == "27" else "5"
                end = start + timedelta(days=length)
                if end >= self.scan0 - timedelta(days=7):
                    break
                self.add("prior_cns_therapy", {
                    "cns_type": kind, "cns_type_other": "",
                    "cns_resection": _choice(rng, "12") if kind == "1" else "",
                    "cns_start_date": iso(start), "cns_end_date": iso(end),
                    "cns_dose_gy": dose, "cns_fractions": fractions, "cns_lesions": "",
                    "cns_memantine": ("1" if rng.random() < 0.3 else "0") if kind in "45" else "",
                })
                if kind != "1":
                    last_rt_end = end
                start = end + timedelta(days=_ri(rng, 40, 200))
            last_rt_end = self._recent_radiotherapy() or last_rt_end
        self.p.facts["last_cns_therapy_end"] = last_rt_end
        # systemic: (neo)adjuvant for relapsed disease, then metastatic lines before SG
        if not self.de_novo:
            s = self.diag + timedelta(days=_ri(rng, 14, 40))
            self.add("prior_systemic_therapy", {
                "sys_setting": _choice(rng, "12"), "sys_line": "", **self._agents(adjuvant=True),
                "sys_start_date": iso(s),
                "sys_end_date": iso(s + timedelta(days=_ri(rng, 100, 170))),
                "sys_best_response": "", "sys_end_reason": "3",
            })
        lines = _choice(rng, [1, 1, 2, 2, 2, 3, 3, 4]) if self.tnbc else _choice(rng, [2, 2, 3, 3, 4, 5])
        span = (self.sg_start - self.first_met).days - 14
        step = max(20, span // lines)
        for i in range(lines):
            start = self.first_met + timedelta(days=14 + i * step)
            end = start + timedelta(days=max(14, step - _ri(rng, 5, 15)))
            end = min(end, self.sg_start - timedelta(days=7))
            if end <= start:
                break
            self.add("prior_systemic_therapy", {
                "sys_setting": "3", "sys_line": str(i + 1),
                **self._agents(adjuvant=False, line=i), "sys_start_date": iso(start),
                "sys_end_date": iso(end),
                "sys_best_response": _pick(rng, {"2": 0.3, "3": 0.35, "4": 0.3, "9": 0.05}),
                "sys_end_reason": _pick(rng, {"1": 0.8, "2": 0.12, "4": 0.05, "9": 0.03}),
            })
        n_lines = sum(r["sys_setting"] == "3" for r in self.p.repeats["prior_systemic_therapy"])
        self.sg_line = n_lines + 1

    def _agents(self, *, adjuvant: bool, line: int = 0) -> dict[str, str]:
        """The sys_agents checkbox (codes of the study dictionary: 1 anthracycline, 2 taxane,
        3 capecitabine, 4 platinum, 5 eribulin, 7 gemcitabine, 10 endocrine, 11 CDK4/6,
        20 T-DXd, 22 immune checkpoint inhibitor, ...)."""
        rng = self.rng
        if adjuvant:
            chosen = {"1", "2"}
        elif not self.tnbc and line == 0:
            chosen = {"10", "11"}
        elif self.tnbc:
            chosen = {_choice(rng, ["2", "4", "3", "7", "5"])}
            if line == 0 and rng.random() < 0.3:
                chosen |= {"2", "22"}
        else:
            chosen = {_choice(rng, ["2", "3", "20", "10", "5", "12"])}
        out = {f"sys_agents___{c}": "1" if c in chosen else "0" for c in SYS_AGENT_CODES}
        out["sys_agents_other"] = ""
        return out

    # -- on treatment --------------------------------------------------------------------
    def _course(self) -> None:
        """Imaging, progression, death, doses and AEs, in one consistent timeline."""
        rng, v = self.rng, self.v
        horizon = (self.extract - self.sg_start).days
        response = _pick(rng, {"responder": 0.32, "stable": 0.45, "early_pd": 0.23})
        deep = rng.random() < 0.15
        ipd_day = {"responder": _lognormal_days(rng, 210, 0.5),
                   "stable": _lognormal_days(rng, 95, 0.5),
                   "early_pd": _ri(rng, 25, 60)}[response]
        epd_day = _lognormal_days(rng, 150, 0.7) if self.extracranial_disease else 10**6
        death_day = min(ipd_day, epd_day) + _lognormal_days(rng, 170, 0.8)
        if rng.random() < 0.07:  # death without documented progression
            death_day = _ri(rng, 20, 150)
        fatal: tuple[str, int] | None = None
        if rng.random() < 0.012:  # a rare fatal AE replaces the drawn death
            fatal = (_choice(rng, ["febrile_neutropenia", "diarrhoea"]), _ri(rng, 8, 60))
            death_day = min(death_day, fatal[1] + _ri(rng, 1, 6))
        ltfu_day = _ri(rng, 60, 500) if rng.random() < 0.05 else 10**6
        stop_day = _ri(rng, 30, 200) if rng.random() < 0.08 else 10**6  # choice/deterioration
        stop_reason = _choice(rng, ["5", "7"])
        # brain (and body) imaging: baseline, then every 4-8 weeks until PD / death / LTFU
        scans: list[int] = [(self.scan0 - self.sg_start).days]
        t = 0
        while True:
            t += _ri(rng, 28, 56)
            if t > horizon or t >= death_day or t > ltfu_day:
                break
            scans.append(t)
            if t >= ipd_day or t >= epd_day:
                break
        # intracranial PD shows on the first scan on or after ipd_day, if there is one
        pd_scan = scans[-1] if len(scans) > 1 and (scans[-1] >= ipd_day) else None
        epd_scan = scans[-1] if len(scans) > 1 and scans[-1] >= epd_day else None
        self._intracranial(scans, pd_scan, response, deep)
        if self.extracranial_disease:
            self._extracranial(scans, epd_scan)
        # what ends treatment first
        ends = [(scans[-1] if (pd_scan or epd_scan) else 10**6, "pd"), (death_day, "death"),
                (ltfu_day, "ltfu"), (stop_day, "stop")]
        end_day, end_kind = min(ends)
        aes = self._draw_aes(min(end_day, horizon + 1, death_day), fatal)
        last_dose, tox_stop = self._administrations(min(end_day, horizon + 1), aes)
        if tox_stop is not None and tox_stop < end_day:
            end_day, end_kind = tox_stop, "tox"
        self._adverse_events(aes, last_dose, death_day, horizon)
        self.cap = min(self.extract, self.day(death_day))
        self._concomitant(aes, last_dose)
        # outcomes
        ipd_date = self.day(pd_scan) if pd_scan is not None else None
        epd_date = self.day(epd_scan) if epd_scan is not None else None
        dead = death_day <= horizon
        ltfu = not dead and ltfu_day <= horizon
        ongoing = end_day > horizon
        if ongoing:
            reason = ""
        elif end_kind == "pd":
            reason = "3" if (pd_scan is not None and epd_scan is not None) else (
                "1" if pd_scan is not None else "2")
        else:
            reason = {"death": "6", "ltfu": "8", "tox": "4", "stop": stop_reason}[end_kind]
        last_data = max(self._all_dates())
        if dead:
            death_date = self.day(death_day)
            last_contact = death_date
            if ipd_date and ipd_date <= death_date:
                cause = "1" if rng.random() < 0.6 else _choice(rng, ["2", "9"])
            elif any(ae["grade"] == 5 for ae in aes):
                cause = "3"
            else:
                cause = _choice(rng, ["2", "4", "9"]) if epd_date else _choice(rng, ["4", "9"])
        else:
            death_date, cause = None, ""
            if ltfu:
                last_contact = last_data
            else:
                last_contact = max(last_data, self.extract - timedelta(days=_ri(rng, 0, 45)))
        v.update(
            sg_start_date=iso(self.sg_start), sg_line=str(self.sg_line),
            sg_start_dose=self.start_level, sg_combination="1" if rng.random() < 0.08 else "0",
            sg_label_use="1" if rng.random() < 0.9 else "2", sg_concurrent_cns_rt="0",
            last_cns_rt_date=iso(self.p.facts["last_cns_therapy_end"]),
            eot_last_dose_date="" if ongoing else iso(last_dose),
            eot_reason=reason, eot_ongoing="1" if ongoing else "0",
            eot_toxicity_ae=self.tox_term if reason == "4" else "", eot_reason_other="",
            sg_beyond_ipd="0",
            ipd_date=iso(ipd_date), ipd_criterion=self.ipd_criterion if ipd_date else "",
            epd_date=iso(epd_date), last_contact_date=iso(last_contact),
            vital_status="2" if dead else ("3" if ltfu else "1"),
            death_date=iso(death_date), death_cause=cause,
            ltfu_date=iso(last_contact) if ltfu else "",
        )
        for code in ("1", "2", "3", "9"):
            v[f"sg_combo_partner___{code}"] = "0"
        if v["sg_combination"] == "1":
            v["sg_combo_partner___" + ("1" if self.tnbc else "2")] = "1"
        if ipd_date or epd_date:
            firsts = [d for d in (ipd_date, epd_date) if d]
            first = min(firsts)
            v["first_pd_pattern"] = "3" if ipd_date == epd_date else (
                "1" if ipd_date == first else "2")
        else:
            v["first_pd_pattern"] = ""
        if not ongoing and end_kind == "pd":
            self._subsequent(last_dose, death_date or last_contact, ipd_date is not None)
        self.p.facts.update(
            dead=dead, ltfu=ltfu, ongoing=ongoing, last_dose=last_dose, ipd_date=ipd_date,
            death_date=death_date, last_contact=last_contact, weight=self.weight,
        )

    def _all_dates(self) -> list[date]:
        latest = [iso(self.sg_start)]
        for form, rows in self.p.repeats.items():
            for name in DATE_FIELDS[form]:
                latest.extend(row[name] for row in rows if row.get(name))
        return [date.fromisoformat(max(latest))]  # ISO dates sort as text

    def _intracranial(self, scans: list[int], pd_scan: int | None, response: str,
                      deep: bool) -> None:
        rng = self.rng
        base = self.targets
        depth = rng.uniform(0.4, 0.75) if not deep else 1.0
        nadir = list(base)
        factor, nadir_f = 1.0, 1.0
        mode = self._pd_mode()
        self.ipd_criterion = {"target": "1", "nontarget": "2", "new": "3", "lmd": "4",
                              "clinical": "5"}[mode]
        dex = self.dex0
        for i, t in enumerate(scans):
            row = {"ia_date": iso(self.day(t)), "ia_type": "1" if i == 0 else "2",
                   "ia_modality": self.modality, "ia_slice_mm": self.v["bm_slice_mm"],
                   "ia_same_modality": "" if i == 0 else "1"}
            if i == 0:
                row.update(self._lesion_fields(base), ia_nontarget="1" if
                           self.nontarget_present else "0", ia_new_lesion="",
                           ia_new_confirmed="", ia_lmd="1" if self.lmd else "0",
                           ia_steroid_dex_mg=str(dex), ia_steroid_change="", ia_clinical="",
                           ia_clin_tumour="", ia_pseudoprog="", ia_rano_inv="",
                           ia_central_review="0")
                self.add("intracranial_assessment", row)
                continue
            at_pd = t == pd_scan
            lesions: list[int] = []
            status = None
            previous = factor
            for attempt in range(25):
                if at_pd and mode == "target":
                    grow = rng.uniform(1.35, 1.7)
                    lesions = [round(x * grow) for x in nadir]
                    j = max(range(len(lesions)), key=lambda k: nadir[k])
                    lesions[j] = max(lesions[j], nadir[j] + _ri(rng, 6, 10))
                else:
                    if response == "responder":
                        f = max(1.0 - depth * min(1.0, t / 90.0), 0.0)
                        if attempt > 3:
                            f *= rng.uniform(0.88, 1.12)
                    elif response == "stable":
                        f = min(nadir_f * 1.1, max(0.8, previous + rng.gauss(0, 0.05)))
                    else:
                        f = min(nadir_f * 1.1, max(0.85, 1.0 + rng.gauss(0, 0.04)))
                    factor = f
                    lesions = [self._shrink(x, f) for x in base]
                    # never accidentally regrow past the nadir PD line
                    lesions = [min(x, n + 3) if f <= nadir_f * 1.1 else x
                               for x, n in zip(lesions, nadir, strict=True)]
                if not base:
                    break
                status = rano.target_status(lesions, base, nadir)
                wanted_pd = at_pd and mode == "target"
                if rano.is_clear_of_thresholds(status) and (
                        (rano.target_response(status) == rano.PD) == wanted_pd):
                    break
            target = rano.target_response(status) if status is not None else None
            ne = not at_pd and base and rng.random() < 0.02
            if ne:
                target = rano.NE
            if not at_pd and target in (rano.PR, rano.CR) and dex > 0 and rng.random() < 0.5:
                dex = max(0, dex - _choice(rng, [2, 4]))
            if target == rano.CR and dex > 0 and rng.random() < 0.6:
                dex = 0
            nontarget = "1" if self.nontarget_present else "0"
            if target == rano.CR and rng.random() < 0.7:
                nontarget = "0"
            if target is None and response == "responder" and t > 120 and rng.random() < 0.3:
                nontarget = "0"
            new_lesion, lmd_code, clinical, steroid_up = "0", "1" if self.lmd else "0", "2", False
            if response == "responder" and self.v.get("bm_symptomatic") == "1":
                clinical = "1"
            if at_pd:
                if mode == "nontarget":
                    nontarget = "2"
                elif mode == "new":
                    new_lesion = "1"
                elif mode == "lmd":
                    lmd_code = "3"
                elif mode == "clinical":
                    clinical, steroid_up = "3", True
                    dex = dex + _choice(rng, [4, 8])
            change = "" if dex == self.dex0 else ("1" if dex < self.dex0 else "3")
            change = change or "2"
            call = rano.time_point_call(
                target, nontarget=nontarget, new_lesion=new_lesion, steroid_dex_mg=dex,
                steroid_increased=steroid_up, clinical_worse=clinical == "3",
                lmd_progression=lmd_code == "3",
            )
            shown = [None if (ne and k == len(lesions) - 1) else x for k, x in enumerate(lesions)]
            row.update(self._lesion_fields(shown), ia_nontarget=nontarget,
                       ia_new_lesion=new_lesion, ia_new_confirmed="", ia_lmd=lmd_code,
                       ia_steroid_dex_mg=str(dex), ia_steroid_change=change,
                       ia_clinical=clinical, ia_clin_tumour="1" if clinical == "3" else "",
                       ia_pseudoprog="0", ia_rano_inv=call, ia_central_review="0")
            self.add("intracranial_assessment", row)
            if base and not ne and not at_pd and sum(lesions) < sum(nadir):
                nadir, nadir_f = list(lesions), factor
        self.p.facts["scans"] = [self.day(t) for t in scans]

    def _pd_mode(self) -> str:
        options = {"new": 0.35, "clinical": 0.08}
        if self.targets:
            options["target"] = 0.45
        if self.nontarget_present:
            options["nontarget"] = 0.12
        if self.lmd:
            options["lmd"] = 0.1
        return _pick(self.rng, options)

    def _shrink(self, size: int, f: float) -> int:
        x = size * f * self.rng.uniform(0.97, 1.03)
        return 0 if x < 3 else round(x)

    @staticmethod
    def _lesion_fields(lesions: list[int | None]) -> dict[str, str]:
        return {f"ia_tl{k}_ld": ("" if k > len(lesions) or lesions[k - 1] is None
                                 else str(lesions[k - 1])) for k in range(1, 6)}

    def _extracranial(self, scans: list[int], epd_scan: int | None) -> None:
        rng = self.rng
        n = _choice(rng, [0, 1, 2, 2, 3, 3, 4, 5])
        base = [_ri(rng, 12, 55) for _ in range(n)]
        nadir = list(base)
        trend = _choice(rng, [0.65, 0.8, 0.9, 1.0, 1.05])
        for i, t in enumerate(scans):
            row = {"ea_date": iso(self.day(t)), "ea_type": "1" if i == 0 else "2",
                   "ea_modality": "2"}
            if i == 0:
                lesions: list[int] = base
                row.update(ea_nontarget="1" if n == 0 or rng.random() < 0.6 else "0",
                           ea_new_lesion="", ea_recist_inv="")
                self.ea_nontarget0 = row["ea_nontarget"]
            else:
                at_pd = t == epd_scan
                for _attempt in range(25):
                    if at_pd and base:
                        lesions = [round(x * rng.uniform(1.3, 1.6)) + 1 for x in nadir]
                        lesions[0] = max(lesions[0], nadir[0] + 6)
                    else:
                        f = max(trend ** min(3, i), 0.5)
                        lesions = [min(self._shrink(x, f), m + 3) for x, m in zip(base, nadir, strict=True)]
                    if not base:
                        break
                    st = rano.target_status(lesions, base, nadir)
                    if rano.is_clear_of_thresholds(st) and (
                            (rano.target_response(st) == rano.PD) == at_pd):
                        break
                target = rano.target_response(rano.target_status(lesions, base, nadir)) \
                    if base else None
                new = "1" if at_pd and not base else "0"
                call = rano.time_point_call(
                    target, nontarget=self.ea_nontarget0, new_lesion=new, steroid_dex_mg=0,
                    steroid_increased=False, clinical_worse=False)
                row.update(ea_nontarget=self.ea_nontarget0, ea_new_lesion=new,
                           ea_recist_inv=call)
                if base and not at_pd and sum(lesions) < sum(nadir):
                    nadir = list(lesions)
            row.update({f"ea_tl{k}_ld": str(lesions[k - 1]) if k <= len(lesions) else ""
                        for k in range(1, 6)})
            self.add("extracranial_assessment", row)

    def _draw_aes(self, until_day: int, fatal: tuple[str, int] | None) -> list[dict]:
        """Each patient's AE episodes: term, worst grade, onset and duration in days."""
        rng = self.rng
        homozygous = "3" in (self.v.get("ugt1a1_28"), self.v.get("ugt1a1_6"))
        out = []
        for key, (_term, p_any, p_g3, max_grade, (lo, hi), _rel) in AE_PROFILE.items():
            boost = 1.35 if homozygous and key in ("neutropenia", "febrile_neutropenia",
                                                   "anaemia") else 1.0
            if rng.random() >= min(0.95, p_any * boost):
                continue
            episodes = 1 + (rng.random() < 0.35) + (rng.random() < 0.15) if key in (
                "neutropenia", "diarrhoea", "nausea") else 1
            onset = _ri(rng, lo, hi)
            for _ in range(episodes):
                if onset >= until_day:
                    break
                severe = rng.random() < min(1.0, p_g3 * boost / p_any)
                grade = (_choice(rng, [3, 3, 4]) if max_grade >= 4 else 3) if severe else \
                    _choice(rng, [1, 1, 2]) if max_grade > 1 else 1
                if key == "febrile_neutropenia":
                    grade = 3 if rng.random() < 0.8 else 4
                grade = min(grade, max_grade)
                out.append({"key": key, "grade": grade, "onset": onset,
                            "duration": _ri(rng, 3, 21) if key != "alopecia" else 10**5})
                onset += _ri(rng, 21, 63)
        if fatal is not None and fatal[1] < until_day:
            out.append({"key": fatal[0], "grade": 5, "onset": fatal[1], "duration": 10**5})
        return sorted(out, key=lambda ae: ae["onset"])

    def _administrations(self, end_day: int, aes: list[dict]) -> tuple[date, int | None]:
        """D1/D8 doses in 21-day cycles; AEs delay, reduce or stop treatment."""
        rng = self.rng
        level = _pick(rng, {"1": 0.86, "2": 0.11, "3": 0.03})
        self.start_level = level
        limiting = [ae for ae in aes if ae["key"] in DOSE_LIMITING and ae["grade"] >= 3]
        cycle, d1, last_given, instance_day = 1, 0, 0, 0
        tox_stop: int | None = None
        self.tox_term = ""
        seen = 0
        while True:
            for day_code in ("1", "8"):
                # D8 is planned a week after the D1 actually given: a delayed D1 moves it too
                planned = d1 if day_code == "1" else d1 + 7
                if planned >= end_day:
                    return self.day(last_given), tox_stop
                status, delay, reason, reduced_now, delay_ae = "1", 0, "", False, ""
                hit = [ae for ae in limiting[seen:] if ae["onset"] < planned]
                if hit:
                    seen += len(hit)
                    ae = hit[-1]
                    reduce = ae["key"] == "febrile_neutropenia" or rng.random() < 0.5
                    ae["action"] = "2"
                    delay_ae = AE_PROFILE[ae["key"]][0]
                    if reduce:
                        if level == "3":
                            ae["action"] = "4"
                            self.tox_term = delay_ae
                            tox_stop = max(planned, ae["onset"] + 1)
                            return self.day(last_given), tox_stop
                        level = str(int(level) + 1)
                        ae["action"] = "3"
                        reduced_now = True
                    if day_code == "8" and rng.random() < 0.6 and not reduced_now:
                        status, reason = "3", "1"
                    else:
                        status, delay, reason = "2", _ri(rng, 5, 9), "1"
                elif rng.random() < 0.05:
                    status, delay, reason = "2", _ri(rng, 2, 7), _choice(rng, "23")
                actual = planned + delay
                if actual >= end_day:
                    return self.day(last_given), tox_stop
                given = status != "3"
                mg = DOSE_MG_PER_KG[level] * self.weight
                self.add("sg_administration", {
                    "adm_date": iso(self.day(actual)), "adm_cycle": str(cycle),
                    "adm_day": day_code, "adm_status": status,
                    "adm_dose_level": level if given else "",
                    "adm_weight_kg": _num(self.weight) if given else "",
                    "adm_dose_mg": str(int(round(mg / 10.0) * 10)) if given else "",
                    "adm_delay_days": str(delay) if status == "2" else "",
                    "adm_delay_reason": reason,
                    "adm_delay_ae": delay_ae if reason == "1" else "",
                    "adm_reduced": ("1" if reduced_now else "0") if given else "",
                    "adm_reduce_reason": "1" if reduced_now and given else "",
                })
                if given:
                    last_given = actual
                instance_day = actual
                if day_code == "1":
                    d1 = actual
            cycle += 1
            d1 = max(d1 + 21, instance_day + 7)

    def _adverse_events(self, aes: list[dict], last_dose: date, death_day: int,
                        horizon: int) -> None:
        rng = self.rng
        teae_end = (last_dose - self.sg_start).days + 30
        for ae in aes:
            if ae["onset"] > min(teae_end, horizon) or ae["onset"] >= death_day:
                continue
            key = ae["key"]
            term, *_rest, related = AE_PROFILE[key]
            end = ae["onset"] + ae["duration"]
            fatal = ae["grade"] == 5
            ongoing = fatal or end > min(horizon, death_day)
            if fatal:
                end = -1
            serious = fatal or key == "febrile_neutropenia" or (
                ae["grade"] >= 3 and rng.random() < 0.4)
            action = ae.get("action", "1")
            criteria = {"1"} if fatal else ({"2"} if ae["grade"] == 4 else {"3"})
            treated = set()
            if key in ("neutropenia", "febrile_neutropenia") and ae["grade"] >= 3:
                treated.add("1")
            if key == "febrile_neutropenia":
                treated |= {"2", "4"}
            if key == "anaemia" and ae["grade"] >= 3:
                treated.add("3")
            if serious:
                treated.add("4")
            row = {
                "ae_term": self.ae_codes[key], "ae_term_other": "", "ae_ctcae_version": "5.0",
                "ae_onset_date": iso(self.day(ae["onset"])),
                "ae_ongoing": "1" if ongoing and not fatal else "0",
                "ae_end_date": "" if ongoing or end < 0 else iso(self.day(end)),
                "ae_grade": str(ae["grade"]), "ae_serious": "1" if serious else "0",
            }
            row.update({f"ae_sae_criteria___{c}": "1" if serious and c in criteria else "0"
                        for c in "123456"})
            row.update({
                "ae_relation": ("1" if rng.random() < 0.9 else "3") if related else
                ("2" if rng.random() < 0.85 else "3"),
                "ae_action": action,
            })
            row.update({f"ae_treatment___{c}": "1" if (c in treated or (c == "0" and not treated))
                        else "0" for c in "123450"})
            row.update({
                "ae_outcome": "5" if fatal else ("3" if ongoing else "1"),
                "ae_aesi": "1" if key in AESI_TERMS else "0",
                "ae_source": "1" if key in LAB_TERMS else "2",
            })
            self.add("adverse_events", row)

    def _concomitant(self, aes: list[dict], last_dose: date) -> None:
        rng = self.rng
        rows = []
        if self.dex0:
            rows.append(("1", "Dexamethasone", self.scan0 - timedelta(days=_ri(rng, 1, 30)),
                         None, {"cm_dex_mg": str(self.dex0)}))
        if self.v.get("aed_at_start") == "1":
            rows.append(("3", "Levetiracetam", self.sg_start - timedelta(days=_ri(rng, 30, 300)),
                         None, {}))
        if rng.random() < 0.8:
            rows.append(("5", "Ondansetron + dexamethasone premedication", self.sg_start,
                         last_dose, {}))
        primary = rng.random() < 0.3
        peg = rng.random() < 0.6
        if primary:
            rows.append(("2", "PEG-rhG-CSF" if peg else "Filgrastim", self.day(1),
                         max(self.day(1), last_dose),
                         {"gcsf_type": "2" if peg else "1", "gcsf_purpose": "1"}))
        secondary_done = primary
        for ae in aes:
            onset = self.day(ae["onset"])
            if onset > last_dose + timedelta(days=30) or onset > self.cap:
                continue
            stop = min(onset + timedelta(days=5), self.cap)
            if ae["key"] == "febrile_neutropenia":
                rows.append(("2", "Filgrastim", onset, stop,
                             {"gcsf_type": "1", "gcsf_purpose": "3"}))
                rows.append(("7", "Piperacillin-tazobactam", onset, stop, {}))
            elif ae["key"] == "neutropenia" and ae["grade"] >= 3 and not secondary_done:
                start = min(onset + timedelta(days=7), self.cap)
                rows.append(("2", "PEG-rhG-CSF" if peg else "Filgrastim", start,
                             max(start, min(last_dose, self.cap)),
                             {"gcsf_type": "2" if peg else "1", "gcsf_purpose": "2"}))
                secondary_done = True
            elif ae["key"] == "diarrhoea" and ae["grade"] >= 2:
                rows.append(("4", "Loperamide", onset, stop, {}))
            elif ae["key"] == "anaemia" and ae["grade"] >= 3:
                rows.append(("6", "Red cell transfusion", onset, onset, {}))
        for category, agent, start, stop, extra in rows:
            self.add("concomitant_care", {
                "cm_category": category, "cm_agent": agent, "cm_start_date": iso(start),
                "cm_ongoing": "1" if stop is None else "0", "cm_stop_date": iso(stop),
                "cm_dex_mg": "", "gcsf_type": "", "gcsf_purpose": "", "cm_cns_type": "",
                "cm_cns_for_pd": "", "cm_cns_lesions": "", **extra,
            })

    def _subsequent(self, after: date, before: date, intracranial: bool) -> None:
        rng = self.rng
        room = (min(before, self.extract) - after).days
        if room < 20 or rng.random() > 0.6:
            return
        start = after + timedelta(days=_ri(rng, 14, min(40, room)))
        after_ipd = "1" if intracranial else "0"
        if intracranial and rng.random() < 0.5:
            kind = _pick(rng, {"6": 0.85, "7": 0.15})
            self.add("subsequent_therapy", {
                "st_type": kind, "st_agent": "SRS" if kind == "6" else "Resection",
                "st_start_date": iso(start), "st_cns_local": "1", "st_after_ipd": after_ipd})
            start += timedelta(days=_ri(rng, 7, 20))
            if start > min(before, self.extract):
                return
        kind = _pick(rng, {"1": 0.6, "2": 0.15, "3": 0.1 if not self.tnbc else 0.0, "4": 0.1,
                           "5": 0.05})
        agent = {"1": _choice(rng, ["Eribulin", "Capecitabine", "Gemcitabine + carboplatin"]),
                 "2": "Trastuzumab deruxtecan", "3": "Fulvestrant", "4": "Bevacizumab",
                 "5": "Pembrolizumab"}[kind]
        self.add("subsequent_therapy", {"st_type": kind, "st_agent": agent,
                                        "st_start_date": iso(start), "st_cns_local": "0",
                                        "st_after_ipd": after_ipd})


SYS_AGENT_CODES = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "20", "21", "22",
                   "23", "24", "25", "99")
#: The date fields of each repeating form.
DATE_FIELDS: dict[str, tuple[str, ...]] = {
    "prior_cns_therapy": ("cns_start_date", "cns_end_date"),
    "prior_systemic_therapy": ("sys_start_date", "sys_end_date"),
    "sg_administration": ("adm_date",),
    "concomitant_care": ("cm_start_date", "cm_stop_date"),
    "intracranial_assessment": ("ia_date",),
    "extracranial_assessment": ("ea_date",),
    "adverse_events": ("ae_onset_date", "ae_end_date"),
    "subsequent_therapy": ("st_start_date",),
}
#: Baseline labs: name -> (unit code, LLN, ULN, drawn low, drawn high, decimals); SI units.
BASELINE_LABS: dict[str, tuple[str, float, float, float, float, int]] = {
    "anc": ("1", 1.8, 6.3, 1.6, 6.5, 2),
    "wbc": ("1", 3.5, 9.5, 3.0, 9.8, 2),
    "plt": ("1", 125, 350, 105, 360, 0),
    "hb": ("4", 115, 150, 96, 148, 0),
    "alt": ("7", 7, 40, 8, 58, 0),
    "ast": ("7", 13, 35, 12, 52, 0),
    "tbil": ("8", 3.4, 20.5, 4, 19, 1),
    "creat": ("8", 41, 81, 40, 95, 0),
    "albumin": ("4", 40, 55, 32, 48, 1),
    "potassium": ("10", 3.5, 5.3, 3.3, 5.1, 1),
    "magnesium": ("10", 0.75, 1.02, 0.7, 1.0, 2),
    "sodium": ("10", 137, 147, 133, 146, 0),
}
