"""The executive summary of page 1 and the patient flow behind it, on the synthetic cohort:
each number against an independent count from the raw export."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from report_world import seeded_export, study_tables, visible_text

from sgbm_redcap.analysis import analyse_study
from sgbm_redcap.analysis.endpoints import apply_cutoff
from sgbm_redcap.analysis.flow import patient_flow
from sgbm_redcap.dictionary.project import load_project
from sgbm_redcap.reports.monthly import write_monthly_report
from sgbm_redcap.source import build_tables
from sgbm_redcap.synthetic.cohort import generate_cohort

CUTOFF = date(2026, 10, 31)


@pytest.fixture(scope="module")
def world():
    project, raw = seeded_export()
    return project, raw, study_tables(project, raw)


@pytest.fixture(scope="module")
def report(world, tmp_path_factory):
    project, _, tables = world
    files = write_monthly_report(tables, cutoff=CUTOFF, out_dir=tmp_path_factory.mktemp("m"),
                                 pdf=False, dags=project.dags, project=project,
                                 changes_summary="3 new patients; 2 new serious events.")
    return files.context, files.html.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def results(world):
    return analyse_study(world[2], cutoff=CUTOFF)


def _base(raw: pd.DataFrame) -> pd.DataFrame:
    base = raw[raw["redcap_repeat_instrument"] == ""].copy()
    base["screened_on"] = pd.to_datetime(base["screening_date"].where(
        base["screening_date"] != "", base["enrol_date"]).replace("", None))
    return base[base["screened_on"] <= pd.Timestamp(CUTOFF)]


def test_summary_is_on_page_one_before_the_contents(report):
    ctx, html = report
    assert ctx.summary is not None
    assert html.index('id="executive-summary"') < html.index('class="toc"')
    assert html.index('id="executive-summary"') < html.index('<section id="study-status"')


def test_enrolment_against_the_target_is_an_independent_count(report, world):
    ctx, _ = report
    project, raw, _ = world
    base = _base(raw)
    enrolled = int(((base["eligible"] == "1") & (base["enrol_date"] != "")
                    & (pd.to_datetime(base["enrol_date"].replace("", None))
                       <= pd.Timestamp(CUTOFF))).sum())
    key = {k.label: k for k in ctx.summary.key.items}
    assert key["Enrolled / target"].value == f"{enrolled} / {project.enrolment_target}"
    assert ctx.summary.paragraphs[0].text.startswith(
        f"Enrolment. {enrolled} patients enrolled of the target of "
        f"{project.enrolment_target}")


def test_key_efficacy_numbers_carry_exact_ci_and_median_ci(report, results):
    ctx, _ = report
    p = results.proportions["iORR_confirmed"]
    text = ctx.summary.paragraphs[1].text
    assert (f"{p.x}/{p.n} ({100 * p.estimate:.1f}%; exact 95% CI {100 * p.lower:.1f}–"
            f"{100 * p.upper:.1f})") in text
    km = results.km["ipfs"]
    assert f"{km.median:.1f} months (95% CI {km.median_lower:.1f}–{km.median_upper:.1f})" \
        in text
    assert f"{km.events} events in {km.n} patients" in text


def test_deaths_within_30_days_of_the_last_dose_are_counted_from_the_raw_dates(report, world,
                                                                              results):
    ctx, _ = report
    raw = world[1]
    safety = set(results.sets.loc[results.sets["safety"], "record_id"])
    adm = raw[(raw["redcap_repeat_instrument"] == "sg_administration")
              & raw["adm_status"].isin(["1", "2"]) & (raw["adm_date"] != "")]
    last = pd.to_datetime(adm["adm_date"]).groupby(adm["record_id"]).max()
    base = _base(raw)
    dead = base[(base["vital_status"] == "2") & (base["death_date"] != "")
                & base["record_id"].isin(safety)]
    dead = dead[pd.to_datetime(dead["death_date"]) <= pd.Timestamp(CUTOFF)]
    days = (pd.to_datetime(dead["death_date"]) - dead["record_id"].map(last)).dt.days
    early = int((days <= 30).sum())
    assert early > 0
    key = {k.label: k for k in ctx.summary.key.items}
    assert key["Deaths"].value == str(len(dead))
    assert key["Deaths"].detail == f"{early} within 30 days of the last dose"
    assert any(item.startswith(f"{early} deaths within 30 days") for item in
               ctx.summary.attention)


def test_grade_5_attention_item_counts_patients_with_a_fatal_teae(report, results):
    ctx, _ = report
    ae = results.adverse_events
    g5 = ae[ae["teae"] & (ae["grade"] == 5)]["record_id"].nunique()
    items = [i for i in ctx.summary.attention if "grade 5" in i]
    if g5:
        assert items and items[0].startswith(f"{g5} patient")
    else:
        assert not items


def test_changes_summary_is_shown_when_given_and_only_then(report, world, tmp_path):
    ctx, html = report
    assert "Since the previous data cut. 3 new patients; 2 new serious events." in visible_text(html)
    project, _, tables = world
    files = write_monthly_report(tables, cutoff=date(2025, 6, 30), out_dir=tmp_path,
                                 pdf=False, dags=project.dags, project=project)
    assert files.context.summary.changes_summary == ""
    assert "Since the previous data cut" not in visible_text(files.html.read_text("utf-8"))


def test_patient_flow_adds_up_and_matches_the_raw_export(world, results):
    raw = world[1]
    study = apply_cutoff(world[2], CUTOFF)
    flow = patient_flow(study, results.sets, results.exposure)
    assert flow.check() == []
    base = _base(raw)
    assert flow.screened == len(base)
    assert flow.not_eligible.n == int((base["eligible"] == "0").sum())
    assert dict(flow.not_eligible.reasons) == base.loc[
        base["eligible"] == "0", "inelig_reason"].replace("", "Reason not recorded"
                                                          ).value_counts().to_dict()
    assert flow.treated == results.set_counts["safety"]
    assert flow.fas == results.set_counts["fas"] and flow.ires == results.set_counts["ires"]
    eot = base.set_index("record_id")
    treated = results.sets.loc[results.sets["safety"], "record_id"]
    ongoing = (eot.loc[treated, "eot_ongoing"] == "1") | (eot.loc[treated, "eot_reason"] == "")
    assert flow.on_treatment == int(ongoing.sum())


@pytest.mark.parametrize("cutoff", [date(2024, 9, 30), date(2025, 3, 31)])
def test_an_early_cutoff_says_what_is_not_estimable(cutoff, tmp_path):
    project = load_project("redcap_project")
    cohort = generate_cohort(n=8, seed=5, problem_rate=0.0)
    raw = cohort.to_frame(dictionary=project.dictionary, with_dag=True)
    tables = build_tables(raw, project.dictionary, repeating_forms=project.repeating_forms,
                          missing_codes=project.missing_codes)
    files = write_monthly_report(tables, cutoff=cutoff, out_dir=tmp_path, pdf=False,
                                 dags=project.dags, project=project)
    summary = files.context.summary
    efficacy = summary.paragraphs[1].text
    results = analyse_study(tables, cutoff=cutoff)
    p = results.proportions["iORR_confirmed"]
    if not p.n:
        assert "not estimable (NE): no patient in the denominator yet" in efficacy
    km = results.km["ipfs"]
    if km is None or not km.events:
        assert "Median intracranial progression-free survival (full analysis set): not " \
            "estimable (NE)" in efficacy
    assert "nan" not in " ".join(p.text for p in summary.paragraphs).lower()


def test_attention_names_the_patients_irradiated_just_before_sg(report, world, results):
    ctx, _ = report
    from sgbm_redcap.analysis.sensitivity import rt_sensitivity

    sens = rt_sensitivity(apply_cutoff(world[2], CUTOFF), results)
    alone, without = sens.iloc[2], sens.iloc[1]
    assert alone["n_fas"] > 0
    item = next(i for i in ctx.summary.attention if "radiotherapy" in i)
    assert item.startswith(f"{alone['n_fas']} patients of the full analysis set")
    p = without["iorr"]
    assert f"{p.x}/{p.n} ({100 * p.estimate:.1f}%" in item
