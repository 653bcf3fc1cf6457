"""The report judges what was known at the cut-off (sgbm_redcap/source/asof.py): data dated
after it are out of scope, not findings, and the completeness tables change with it."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import pandas as pd
import pytest
from checks_fixtures import clean_patient, flat
from report_world import seeded_export, study_tables

from sgbm_redcap.checks import run_checks
from sgbm_redcap.dictionary.project import load_project
from sgbm_redcap.reports.monthly import run_monthly_report
from sgbm_redcap.reports.quality import completeness
from sgbm_redcap.source import build_tables
from sgbm_redcap.source.asof import INSTANCE_DATES, as_of, as_of_raw, in_scope

#: two months before the seeded cohort's last data (its last contact is 2026-11-25)
CUTOFF = date(2026, 9, 25)


@lru_cache(maxsize=1)
def _world():
    project, raw = seeded_export()
    return project, study_tables(project, raw)


def _findings(tables, cutoff):
    view = as_of(tables, cutoff)
    result = run_checks(view, cutoff=cutoff, dictionary=tables.dictionary)
    assert not result.failed_rules
    return view, in_scope(result.findings, view)


def _dates(raw: pd.DataFrame, dictionary) -> pd.DataFrame:
    """Every date value of ``raw`` as (record_id, instrument, instance, field, day)."""
    cols = [f.name for f in dictionary if f.is_date and f.name in raw.columns]
    long = raw.melt(id_vars=["record_id", "redcap_repeat_instrument",
                             "redcap_repeat_instance"], value_vars=cols, var_name="field")
    long = long[long["value"] != ""]
    return long.assign(day=pd.to_datetime(long["value"], errors="coerce"))


def test_no_finding_about_data_after_the_cutoff():
    project, tables = _world()
    full = run_checks(tables, cutoff=CUTOFF, dictionary=project.dictionary).findings
    assert (full["rule_id"] == "DATE-10").sum() > 50  # what the report showed before
    view, findings = _findings(tables, CUTOFF)
    assert not (findings["rule_id"] == "DATE-10").any()
    cut = pd.Timestamp(CUTOFF)
    # no finding on a patient screened after the cut-off
    base = tables.raw[tables.raw["redcap_repeat_instrument"] == ""]
    came = pd.to_datetime(base["screening_date"].replace("", None)).fillna(
        pd.to_datetime(base["enrol_date"].replace("", None)))
    later = set(base.loc[(came > cut).to_numpy(), "record_id"])
    assert later and not set(findings["record_id"]) & later
    # no finding on an instance dated after the cut-off, nor on a date after it
    raw = tables.raw
    for f in findings.itertuples():
        if f.instance:
            row = raw[(raw["record_id"] == f.record_id)
                      & (raw["redcap_repeat_instrument"] == f.form)
                      & (raw["redcap_repeat_instance"] == str(f.instance))]
            anchor = INSTANCE_DATES.get(f.form)
            if anchor:
                assert not (pd.to_datetime(row[anchor].replace("", None)) > cut).any(), f
        if project.dictionary.get(f.field) and project.dictionary.field(f.field).is_date \
                and f.value:
            assert pd.Timestamp(f.value) <= cut, f
    # the view itself holds no date after the cut-off (the extract day is later)
    days = _dates(view.raw, project.dictionary)
    assert not (days["day"] > cut).any()
    # and the problems the checks find in the data at the cut-off are still found
    assert {"DATE-7", "DOSE-1", "DQ-D"} <= set(findings["rule_id"])


def test_monthly_report_at_an_earlier_cutoff_has_no_date10(tmp_path):
    project, tables = _world()
    files = run_monthly_report(tables, cutoff=CUTOFF, out_dir=tmp_path, project=project,
                               pdf=False)
    text = files.html.read_text(encoding="utf-8")
    assert "DATE-10" not in text
    rules = [b for s in files.context.sections for b in s.blocks
             if getattr(b, "id", "") == "findings-by-rule"][0]
    assert rules.rows and not any(r[0] == "DATE-10" for r in rules.rows)


def test_completeness_follows_the_cutoff():
    project, tables = _world()
    expected = project.expected_forms

    def by_form(t):
        comp, skipped = completeness(t.raw, t.dictionary, t.repeating_forms,
                                     expected=expected, not_yet=t.not_yet)
        assert skipped == 0
        return comp.groupby("form")["expected"].sum()

    now, early = by_form(tables), by_form(as_of(tables, date(2025, 1, 31)))
    assert (early < now).all() and early["sg_administration"] < now["sg_administration"] / 5
    # before the first enrolment nothing is expected at all
    empty = as_of(tables, date(2020, 1, 1))
    assert empty.raw.empty
    assert completeness(empty.raw, empty.dictionary, expected=expected)[0].empty


def test_state_at_the_cutoff_and_branching_logic():
    project = load_project("redcap_project")
    rows = clean_patient("1")
    rows[0].update(vital_status="2", death_date="2024-06-10", death_cause="1",
                   last_contact_date="2024-06-10", eot_ongoing="0",
                   eot_last_dose_date="2024-05-20", eot_reason="1")
    rows[-1].update(ae_ongoing="0")
    view = as_of_raw(flat(rows), project.dictionary, date(2024, 3, 15),
                     extracted=date(2024, 12, 1))
    base = view[view["redcap_repeat_instrument"] == ""].iloc[0]
    assert base["vital_status"] == "1" and base["death_date"] == ""
    assert base["death_cause"] == ""  # hidden once the patient is alive at the cut-off
    assert base["last_contact_date"] == "2024-03-15"  # known alive at the cut-off
    assert base["eot_ongoing"] == "1" and base["eot_reason"] == "" and \
        base["eot_last_dose_date"] == ""
    ae = view[view["redcap_repeat_instrument"] == "adverse_events"].iloc[0]
    assert ae["ae_end_date"] == "" and ae["ae_ongoing"] == "1"
    adm = view[view["redcap_repeat_instrument"] == "sg_administration"]
    assert list(adm["adm_date"]) == ["2024-03-01", "2024-03-08"]  # 2024-03-22 is later


def test_a_value_hidden_in_the_export_itself_is_kept():
    project = load_project("redcap_project")
    rows = clean_patient("1")
    rows[0].update(vital_status="1", death_cause="2")  # a finding, not the cut-off's doing
    view = as_of_raw(flat(rows), project.dictionary, date(2024, 8, 1),
                     extracted=date(2024, 12, 1))
    assert view.loc[view["redcap_repeat_instrument"] == "", "death_cause"].iloc[0] == "2"


def test_a_date_after_the_extract_stays_a_finding():
    project = load_project("redcap_project")
    rows = clean_patient("1")
    rows[-1].update(ae_onset_date="2062-03-10", ae_end_date="")
    tables = build_tables(flat(rows), project.dictionary,
                          repeating_forms=project.repeating_forms)
    view, findings = _findings(tables, date(2024, 8, 1))
    assert "2062-03-10" in set(view.raw["ae_onset_date"])
    assert "DATE-10" in set(findings["rule_id"])


def test_a_date_not_yet_known_is_neither_missing_nor_a_finding():
    project = load_project("redcap_project")
    rows = clean_patient("1")
    rows[0].update(consent_type="1", consent_date="2024-03-05")
    tables = build_tables(flat(rows), project.dictionary,
                          repeating_forms=project.repeating_forms)
    view, findings = _findings(tables, date(2024, 3, 2))
    assert not (findings["field"] == "consent_date").any()
    comp, _ = completeness(view.raw, view.dictionary, view.repeating_forms,
                           expected=project.expected_forms, not_yet=view.not_yet)
    full, _ = completeness(view.raw, view.dictionary, view.repeating_forms,
                           expected=project.expected_forms)
    enrol = comp[comp["form"] == "enrolment"]
    assert int(enrol["expected"].sum()) == int(enrol["filled"].sum())
    gap = full[full["form"] == "enrolment"]
    assert int(gap["expected"].sum()) - int(gap["filled"].sum()) == 1  # without not_yet


def test_the_view_of_a_view_is_itself():
    _, tables = _world()
    view = as_of(tables, CUTOFF)
    assert as_of(view, CUTOFF) is view and as_of(tables, None) is tables


@pytest.mark.parametrize("text, word", [
    ('[expected_forms]\nnot_a_form = "[eligible] = \'1\'"\n', "not_a_form"),
    ('[expected_forms]\ndemographics = "[eligible] = "\n', "demographics"),
    ('[expected_forms]\ndemographics = "[no_such_field] = \'1\'"\n', "no_such_field"),
    ("[expected_forms]\ndemographics = 3\n", "demographics"),
])
def test_expected_forms_are_checked_when_the_project_is_read(tmp_path, text, word):
    import shutil

    from sgbm_redcap.errors import DictionaryError

    folder = tmp_path / "p"
    shutil.copytree("redcap_project", folder)
    toml = (folder / "project.toml").read_text(encoding="utf-8")
    start = toml.index("[expected_forms]")
    end = toml.index("# Instrument labels")
    (folder / "project.toml").write_text(toml[:start] + text + "\n" + toml[end:],
                                         encoding="utf-8")
    with pytest.raises(DictionaryError, match=word):
        load_project(folder)


def test_the_view_keeps_missing_data_codes_as_reasons():
    """A coded value known at the cut-off stays "missing with a reason" in the view (never a
    type problem); the reasons of patients and instances the view drops go with them."""
    _, tables = _world()
    codes = {code for code, _ in tables.missing_codes.items}
    assert len(tables.missing_reasons) and codes
    view = as_of(tables, CUTOFF)
    assert view.missing_codes == tables.missing_codes
    assert len(view.missing_reasons)
    assert not view.type_problems["value"].astype(str).isin(codes).any()
    assert set(view.missing_reasons["record_id"]) <= set(view.raw["record_id"])
    early = as_of(tables, date(2025, 6, 30))
    assert len(early.missing_reasons) < len(view.missing_reasons) <= len(tables.missing_reasons)
