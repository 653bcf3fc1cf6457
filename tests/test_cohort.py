"""The synthetic cohort: deterministic, true to the study dictionary, clean where it claims
to be, and dirty exactly where its manifest says."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import pytest

from sgbm_redcap.dictionary import load_dictionary
from sgbm_redcap.dictionary.missing import is_missing_code
from sgbm_redcap.dictionary.project import study_project
from sgbm_redcap.synthetic import rano
from sgbm_redcap.synthetic.cohort import (
    DEFAULT_EXTRACT_DATE,
    PROBLEM_KINDS,
    REPEATING_FORMS,
    STUDY_START,
    generate_cohort,
)

ROOT = Path(__file__).resolve().parents[1]
KEYS = {"record_id", "redcap_repeat_instrument", "redcap_repeat_instance"}


@pytest.fixture(scope="module")
def dictionary():
    return load_dictionary(ROOT / "redcap_project" / "data_dictionary.csv")


@pytest.fixture(scope="module")
def cohort():
    return generate_cohort(200, seed=7, problem_rate=0.15)


def _records(rows):
    by = defaultdict(lambda: {"base": {}, "rep": defaultdict(list)})
    for r in rows:
        form = r["redcap_repeat_instrument"]
        if form:
            by[r["record_id"]]["rep"][form].append(r)
        else:
            by[r["record_id"]]["base"] = r
    return by


def _d(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


def _planted_cells(c):
    return {(m.record_id, m.form, m.instance, m.field) for m in c.manifest}


# -- determinism ------------------------------------------------------------------------------

def test_same_seed_same_cohort_and_manifest():
    a = generate_cohort(40, seed=11, problem_rate=0.3)
    b = generate_cohort(40, seed=11, problem_rate=0.3)
    assert a.records == b.records and a.clean_records == b.clean_records
    assert a.manifest == b.manifest and a.dags == b.dags


def test_other_seed_other_cohort():
    a = generate_cohort(40, seed=11, problem_rate=0.3)
    b = generate_cohort(40, seed=12, problem_rate=0.3)
    assert a.clean_records != b.clean_records


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="problem_rate"):
        generate_cohort(10, problem_rate=1.5)
    with pytest.raises(ValueError, match="unknown problem kinds"):
        generate_cohort(10, problem_kinds=["typo"])
    with pytest.raises(ValueError, match="extract_date"):
        generate_cohort(10, extract_date=date(2024, 8, 15))


def test_nothing_is_dated_after_an_early_extract():
    c = generate_cohort(60, seed=2, problem_rate=0.3, extract_date=date(2025, 3, 1))
    dates = [v for r in c.records for k, v in r.items() if k.endswith("_date") and v]
    assert max(dates) <= "2025-03-01" and len(c.manifest) == 18


# -- the dictionary ---------------------------------------------------------------------------

def _value_problem(f, value: str) -> str | None:
    """Why ``value`` would not pass REDCap's import validation of field ``f`` (None: fine),
    plus the hard min/max the study dictionary sets. A missing data code of the project is
    accepted in every field that takes codes, as REDCap does."""
    if is_missing_code(value, study_project().missing_codes, f):
        return None
    if f.field_type in ("radio", "dropdown", "yesno", "truefalse"):
        return None if value in f.choices else "not a choice"
    v = f.validation or ""
    if v.startswith("date"):
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return "not Y-M-D"
        date.fromisoformat(value)
        low = f.validation_min and date.fromisoformat(f.validation_min)
        return "before min" if low and date.fromisoformat(value) < low else None
    if v in ("integer", "number"):
        pattern = r"-?\d+" if v == "integer" else r"-?\d+(\.\d+)?"
        if not re.fullmatch(pattern, value):
            return f"not {v}"
        x = float(value)
        if f.validation_min not in (None, "") and x < float(f.validation_min):
            return "below min"
        if f.validation_max not in (None, "") and x > float(f.validation_max):
            return "above max"
    return None


def test_every_column_is_a_dictionary_column(cohort, dictionary):
    allowed = set(dictionary.export_columns()) | KEYS
    columns = {k for r in cohort.records for k in r}
    assert columns - allowed == set()
    calcs = {f.name for f in dictionary.fields if f.field_type == "calc"}
    assert columns & calcs == set()  # REDCap ignores calc values on import
    assert {r["redcap_repeat_instrument"] for r in cohort.records} - {""} <= set(REPEATING_FORMS)


def test_every_value_passes_its_validation_except_planted_ones(cohort, dictionary):
    planted = _planted_cells(cohort)
    bad = []
    for rows, excused in ((cohort.clean_records, set()), (cohort.records, planted)):
        for r in rows:
            inst = int(r["redcap_repeat_instance"]) if r["redcap_repeat_instance"] else None
            for name, value in r.items():
                if name in KEYS or value == "":
                    continue
                base, _, code = name.partition("___")
                f = dictionary.get(base)
                if f is None:  # <form>_complete
                    assert value in ("0", "1", "2"), name
                    continue
                if code:
                    assert code in f.choices and value in ("0", "1"), name
                    continue
                why = _value_problem(f, value)
                if why and (r["record_id"], f.form, inst, name) not in excused:
                    bad.append((r["record_id"], name, value, why))
    assert bad == []


def test_planted_value_problems_really_fail_validation(dictionary):
    c = generate_cohort(120, seed=3, problem_rate=0.5,
                        problem_kinds=["out_of_range", "invalid_choice"])
    assert len(c.manifest) == 60
    rows = {(r["record_id"], r["redcap_repeat_instrument"], r["redcap_repeat_instance"]): r
            for r in c.records}
    for m in c.manifest:
        key = (m.record_id, "" if m.instance is None else m.form,
               "" if m.instance is None else str(m.instance))
        assert _value_problem(dictionary.field(m.field), rows[key][m.field]), m


def test_required_fields_are_filled_when_shown(cohort, dictionary):
    from sgbm_redcap.logic import evaluate, parse

    frame = cohort.to_frame(clean=True, dictionary=dictionary)
    repeating = set(REPEATING_FORMS)
    empty = []
    for f in dictionary.fields:
        if not f.required or f.form == "data_queries" or f.name == dictionary.record_id:
            continue
        rows = frame[frame["redcap_repeat_instrument"] == (f.form if f.form in repeating else "")]
        if f.form not in repeating:
            rows = rows[rows[f"{f.form}_complete"] == "2"]  # forms the patient has
        if rows.empty:
            continue
        shown = evaluate(parse(f.branching_logic), rows).fillna(False).astype(bool) \
            if f.branching_logic else True
        if f.field_type == "checkbox":
            filled = rows[[f"{f.name}___{c}" for c in f.choices]].eq("1").any(axis=1)
        else:
            filled = rows[f.name] != ""
        missing = rows[~filled & shown]
        empty += [(rid, f.name) for rid in missing["record_id"]]
    assert empty == []


# -- clean means clean ------------------------------------------------------------------------

def _problems_of(rec, extract: date) -> list[str]:
    """Independent study-rule checks of one record (the kinds the planter can produce)."""
    b, rep = rec["base"], rec["rep"]
    out = []
    if b.get("eligible") != "1":
        return out
    if any(b[k] != "1" for k in b if k.startswith("inc_")) or \
            any(b[k] != "0" for k in b if k.startswith("exc_")):
        out.append("eligibility_violation")
    sg = _d(b["sg_start_date"])
    dates = [_d(v) for r in [b, *[x for rows in rep.values() for x in rows]]
             for k, v in r.items() if k.endswith("_date") and v]
    if any(x > extract for x in dates):
        out.append("after_extract")
    if _d(b["bm_diag_date"]) > sg or not (_d(b["screening_date"]) <= _d(b["enrol_date"]) <= sg):
        out.append("impossible_date")
    for ae in rep["adverse_events"]:
        if _d(ae["ae_onset_date"]) < sg or (ae["ae_end_date"] and
                                            _d(ae["ae_end_date"]) < _d(ae["ae_onset_date"])):
            out.append("impossible_date")
        if ae["ae_grade"] == "5" and b["vital_status"] != "2":
            out.append("grade5_without_death")
    ia = rep["intracranial_assessment"]
    if b["death_date"] and ia and _d(b["death_date"]) < max(_d(r["ia_date"]) for r in ia):
        out.append("impossible_date")
    baseline = [r for r in ia if r["ia_type"] == "1"]
    if not baseline:
        out.append("missing_baseline_scan")
    elif not 0 < (sg - _d(baseline[0]["ia_date"])).days <= 28:
        out.append("baseline_out_of_window")
    levels = [r["adm_dose_level"] for r in rep["sg_administration"] if r["adm_dose_level"]]
    if any(later < earlier for earlier, later in zip(levels, levels[1:], strict=False)):
        out.append("dose_reescalation")
    if b["vital_status"] == "1" and (extract - _d(b["last_contact_date"])).days > 90:
        out.append("stale_last_contact")
    if baseline:
        out += _rano_disagreements(baseline[0], [r for r in ia if r["ia_type"] == "2"])
    return out


def _lesions(row):
    return [int(row[f"ia_tl{k}_ld"]) for k in range(1, 6) if row[f"ia_tl{k}_ld"] != ""]


def _rano_disagreements(base_row, follow_ups) -> list[str]:
    base = _lesions(base_row)
    nadir = list(base)
    out = []
    for row in follow_ups:
        lesions = _lesions(row)
        if base and len(lesions) != len(base):
            if row["ia_rano_inv"] not in (rano.NE, rano.PD):
                out.append("response_contradicts_measurements")
            continue
        target = rano.target_response(rano.target_status(lesions, base, nadir)) if base else None
        call = rano.time_point_call(
            target, nontarget=row["ia_nontarget"], new_lesion=row["ia_new_lesion"],
            steroid_dex_mg=float(row["ia_steroid_dex_mg"] or 0),
            steroid_increased=row["ia_steroid_change"] == "3",
            clinical_worse=row["ia_clinical"] == "3", lmd_progression=row["ia_lmd"] == "3")
        if call != row["ia_rano_inv"]:
            out.append("response_contradicts_measurements")
        if base and sum(lesions) < sum(nadir):
            nadir = lesions
    return out


def test_clean_records_break_no_study_rule(cohort):
    found = {rid: p for rid, rec in _records(cohort.clean_records).items()
             if (p := _problems_of(rec, cohort.extract_date))}
    assert found == {}


@pytest.mark.parametrize(("n", "seed"), [(60, 1), (150, 7), (300, 20240801), (400, 99)])
def test_clean_administrations_are_dated_in_cycle_order(n, seed):
    """A cycle's D8 comes after its D1 (even when D1 was delayed) and every administration
    after the previous cycle's: dates strictly increase in (cycle, day) order."""
    c = generate_cohort(n, seed=seed, problem_rate=0.0)
    out_of_order = []
    for rid, rec in _records(c.clean_records).items():
        adms = sorted(rec["rep"]["sg_administration"],
                      key=lambda r: (int(r["adm_cycle"]), int(r["adm_day"])))
        dates = [_d(r["adm_date"]) for r in adms]
        out_of_order += [(rid, a["adm_cycle"], a["adm_day"], b["adm_cycle"], b["adm_day"])
                         for a, b, da, db in zip(adms, adms[1:], dates, dates[1:], strict=False)
                         if db <= da]
    assert out_of_order == []


def test_each_planted_problem_is_the_only_difference_and_is_detected(cohort):
    clean, dirty = _records(cohort.clean_records), _records(cohort.records)
    by_record = {m.record_id: m for m in cohort.manifest}
    assert len(by_record) == len(cohort.manifest)  # one problem per record
    for rid in clean:
        if rid not in by_record:
            assert clean[rid] == dirty[rid], rid
    detectable = {"eligibility_violation", "impossible_date", "grade5_without_death",
                  "missing_baseline_scan", "dose_reescalation", "stale_last_contact",
                  "response_contradicts_measurements"}
    for rid, m in by_record.items():
        assert clean[rid] != dirty[rid], m
        if m.kind in detectable:
            assert set(_problems_of(dirty[rid], cohort.extract_date)) == {m.kind}, m


def test_manifest_vocabulary_and_coverage(cohort):
    assert len(cohort.manifest) == 30
    assert {m.kind for m in cohort.manifest} == set(PROBLEM_KINDS)
    assert len({m.problem_id for m in cohort.manifest}) == len(cohort.manifest)
    for m in cohort.manifest:
        assert m.detail and m.field and m.form
        assert (m.instance is None) == (m.form not in REPEATING_FORMS or
                                        m.kind == "missing_baseline_scan")
    assert generate_cohort(30, seed=7, problem_rate=0).manifest == []


# -- realism ----------------------------------------------------------------------------------

def test_cohort_looks_like_the_study(cohort):
    recs = _records(cohort.clean_records)
    bases = [r["base"] for r in recs.values()]
    treated = [b for b in bases if b.get("eligible") == "1"]
    assert 4 <= len(set(cohort.dags.values())) <= 6
    starts = sorted(_d(b["sg_start_date"]) for b in treated)
    assert STUDY_START <= starts[0] < date(2025, 1, 1) and starts[-1] <= DEFAULT_EXTRACT_DATE
    tnbc = sum(b["subtype_sg"] == "2" for b in treated) / len(treated)
    assert 0.3 < tnbc < 0.6
    ae_terms = Counter()
    for rec in recs.values():
        ae_terms.update({ae["ae_term"] for ae in rec["rep"]["adverse_events"]})
    from sgbm_redcap.synthetic.cohort import default_ae_codes

    codes = default_ae_codes()
    assert 0.4 < ae_terms[codes["neutropenia"]] / len(treated) < 0.8
    assert ae_terms[codes["neutropenia"]] > ae_terms[codes["febrile_neutropenia"]]
    assert 0.35 < sum(b["vital_status"] == "2" for b in treated) / len(treated) < 0.8
    gaps = []
    for rec in recs.values():
        ia = [_d(r["ia_date"]) for r in rec["rep"]["intracranial_assessment"]]
        gaps += [(b - a).days for a, b in zip(ia[1:], ia[2:], strict=False)]
        adm = rec["rep"]["sg_administration"]
        assert all(r["adm_day"] in ("1", "8") for r in adm)
    assert gaps and min(gaps) >= 28 and max(gaps) <= 56


# -- the response arithmetic the calls come from ---------------------------------------------

def test_target_thresholds_follow_rano_bm():
    base = [20, 10]
    pr = rano.target_status([14, 7], base, base)          # -30% exactly
    assert rano.target_response(pr) == rano.PR and not rano.is_clear_of_thresholds(pr)
    assert rano.target_response(rano.target_status([15, 7], base, base)) == rano.SD
    nadir = [10, 5]
    # +20% from nadir but no lesion up 5 mm: not progression
    assert rano.target_response(rano.target_status([12, 6], base, nadir)) == rano.PR
    assert rano.target_response(rano.target_status([16, 5], base, nadir)) == rano.PD
    assert rano.target_response(rano.target_status([0, 0], base, nadir)) == rano.CR


def test_time_point_call_combines_the_components():
    call = rano.time_point_call
    quiet = dict(new_lesion="0", steroid_dex_mg=0, steroid_increased=False, clinical_worse=False)
    assert call(rano.CR, nontarget="0", **quiet) == rano.CR
    assert call(rano.CR, nontarget="1", **quiet) == rano.PR  # non-target disease remains
    assert call(rano.CR, nontarget="0", **{**quiet, "steroid_dex_mg": 4}) == rano.PR
    assert call(rano.SD, nontarget="1", **{**quiet, "new_lesion": "1"}) == rano.PD
    assert call(rano.PR, nontarget="2", **quiet) == rano.PD
    assert call(None, nontarget="1", **quiet) == rano.NON_CR_NON_PD
    assert call(None, nontarget="1", **quiet, lmd_progression=True) == rano.PD
    assert call(rano.NE, nontarget="1", **quiet) == rano.NE
