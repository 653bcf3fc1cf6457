"""Every change class of ``cut diff`` on a scripted pair of cuts: the first is the synthetic
cohort as entered a month earlier (``synthetic.waves.first_wave``) minus three patients, the
second the whole cohort with one scripted change per class. Each expectation is worked out
from the data and the script, not copied from a run."""

from __future__ import annotations

import io
import json
import re
from datetime import date, timedelta

import pandas as pd
import pytest
from click.testing import CliRunner
from cut_fixtures import cut_from_frame, utc

from sgbm_redcap.analysis import analyse_study
from sgbm_redcap.cli import main
from sgbm_redcap.cuts import CHANGE_COLUMNS, diff_cuts
from sgbm_redcap.cuts.create import dictionary_csv
from sgbm_redcap.cuts.diff import IDENTIFIER_HIDDEN
from sgbm_redcap.dictionary.project import load_project
from sgbm_redcap.errors import CutMismatchError
from sgbm_redcap.jobs.cuts import diff_text
from sgbm_redcap.study_codes import Response, VitalStatus, YesNo
from sgbm_redcap.synthetic.cohort import generate_cohort
from sgbm_redcap.synthetic.waves import first_wave

CUT_A, CUT_B = date(2026, 10, 25), date(2026, 11, 25)
BASE, AE, IA = "", "adverse_events", "intracranial_assessment"
GRADE_USER, GRADE_TIME = "site_dm_02", "2026-11-10 09:15"
_RESULTS: list = []


def _rows(raw: pd.DataFrame, form: str, record: str | None = None) -> pd.Series:
    sel = raw["redcap_repeat_instrument"] == form
    return sel & (raw["record_id"] == record) if record is not None else sel


class Script:
    """The scripted changes, and who each record is."""

    def __init__(self, a: pd.DataFrame, b: pd.DataFrame, results_a) -> None:
        self.a, self.b = a, b
        both = set(a["record_id"])
        bor = results_a.bor_intracranial.set_index("record_id")["confirmed"]
        ends = results_a.endpoints.set_index(["record_id", "endpoint"])
        sets = results_a.sets.set_index("record_id")
        base_b = b[_rows(b, BASE)].set_index("record_id")
        alive = [r for r in both if base_b.loc[r, "vital_status"] == VitalStatus.ALIVE]
        self.bor = next(r for r in bor.index if bor[r] == "PR")
        self.death = next(r for r in alive if r != self.bor and (r, "os") in ends.index)
        self.pfs = next(r for r in alive if r not in (self.bor, self.death)
                        and (r, "ipfs") in ends.index and not ends.loc[(r, "ipfs"), "event"]
                        and base_b.loc[r, "ipd_date"] == ""
                        and b.loc[_rows(b, IA, r), "ia_date"].max() <= str(CUT_B - timedelta(30)))
        self.leaves = next(r for r in sets.index[sets["safety"]]
                           if r not in (self.bor, self.death, self.pfs))
        self.ecog = next(r for r in both if r not in (self.bor, self.death, self.pfs,
                                                     self.leaves)
                         and base_b.loc[r, "ecog"] in ("0", "1"))
        ae_a = a[_rows(a, AE) & (a["ae_onset_date"] <= str(CUT_A))]
        self.sae = ae_a[ae_a["ae_serious"] == YesNo.NO].iloc[0]
        rest = ae_a[(ae_a["record_id"] != self.sae["record_id"])]
        self.aesi = rest[rest["ae_aesi"] == YesNo.NO].iloc[0]
        self.grade = rest[(rest["ae_grade"].isin(["1", "2"]))
                          & (rest["record_id"] != self.aesi["record_id"])].iloc[0]

    def apply(self) -> pd.DataFrame:
        b = self.b.copy()
        calls = _rows(b, IA, self.bor) & b["ia_rano_inv"].isin([Response.CR, Response.PR])
        b.loc[calls, "ia_rano_inv"] = Response.SD.value
        base = _rows(b, BASE)
        death = base & (b["record_id"] == self.death)
        b.loc[death, ["vital_status", "death_date", "death_cause"]] = [
            VitalStatus.DEAD.value, str(CUT_B - timedelta(days=3)), "9"]
        pfs = base & (b["record_id"] == self.pfs)
        last_scan = b.loc[_rows(b, IA, self.pfs), "ia_date"].max()
        self.ipd_date = str(date.fromisoformat(last_scan) + timedelta(days=14))
        b.loc[pfs, ["ipd_date", "ipd_criterion"]] = [self.ipd_date, "5"]
        b.loc[base & (b["record_id"] == self.leaves), "eligible"] = YesNo.NO.value
        ecog = base & (b["record_id"] == self.ecog)
        self.ecog_old = b.loc[ecog, "ecog"].iloc[0]
        b.loc[ecog, "ecog"] = "2"
        for row, column, value in ((self.sae, "ae_serious", YesNo.YES.value),
                                   (self.aesi, "ae_aesi", YesNo.YES.value),
                                   (self.grade, "ae_grade", str(int(self.grade["ae_grade"]) + 1))):
            at = (_rows(b, AE, row["record_id"])
                  & (b["redcap_repeat_instance"] == row["redcap_repeat_instance"]))
            b.loc[at, column] = value
        # an identifier corrected: counted, its values never shown
        mrn = base & (b["record_id"] == self.ecog)
        self.mrns = (b.loc[mrn, "site_patient_id"].iloc[0], "MRN0000001")
        b.loc[mrn, "site_patient_id"] = self.mrns[1]
        # a status field moving on is follow-up, never a retrospective change
        b.loc[base & (b["record_id"] == self.ecog), "last_contact_date"] = str(CUT_B)
        return b

    def log(self) -> list[dict[str, str]]:
        g = self.grade
        return [
            {"timestamp": GRADE_TIME, "username": GRADE_USER,
             "action": f"Update record {g['record_id']}",
             "details": f"ae_grade = '{int(g['ae_grade']) + 1}'", "record": g["record_id"]},
            {"timestamp": "2026-11-12 10:00", "username": "site_dm_01",
             "action": f"Update record {self.ecog}", "details": "weight_kg = '61'",
             "record": self.ecog},
            # before the first cut was made: not part of what changed since
            {"timestamp": "2026-10-20 08:00", "username": "early_user",
             "action": f"Update record {g['record_id']}", "details": "ae_grade = '1'",
             "record": g["record_id"]},
        ]


@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    project = load_project("redcap_project")
    d = project.dictionary
    cohort = generate_cohort(n=40, seed=20240801, problem_rate=0.0)
    first = first_wave(cohort, d, CUT_A)
    a = first.to_frame(dictionary=d, with_dag=True)
    dropped = list(dict.fromkeys(a["record_id"]))[-3:]
    a = a[~a["record_id"].isin(dropped)].reset_index(drop=True)
    root = tmp_path_factory.mktemp("cuts")
    cut_a = cut_from_frame(root / str(CUT_A), a, project, cutoff=CUT_A,
                           created=utc(2026, 10, 26, 6), watermark="2026-10-26 06:00:00")
    results_a = analyse_study(cut_a.tables(), cutoff=CUT_A)
    script = Script(a, cohort.to_frame(dictionary=d, with_dag=True), results_a)
    b = script.apply()
    relabelled = dictionary_csv(d).replace("ECOG performance status", "ECOG PS at SG start", 1)
    assert relabelled != dictionary_csv(d)
    cut_b = cut_from_frame(root / str(CUT_B), b, project, cutoff=CUT_B,
                           created=utc(2026, 11, 26, 6), previous=cut_a, log=script.log(),
                           watermark="2026-11-26 06:00:00", metadata_csv=relabelled)
    results_b = analyse_study(cut_b.tables(), cutoff=CUT_B)
    diff = diff_cuts(cut_a, cut_b, results_old=results_a, results_new=results_b)
    _RESULTS[:] = [results_a, results_b]
    return project, script, cut_a, cut_b, diff, set(dropped)


def test_new_patients_per_site(scripted):
    project, script, _, _, diff, dropped = scripted
    new = set(script.b["record_id"]) - set(script.a["record_id"])
    assert new and dropped <= new
    assert set(diff.new_patients["record_id"]) == new
    by_site = diff.new_by_site().set_index("site")["new_records"]
    labels = dict(project.dags)
    base = script.b[script.b["redcap_repeat_instrument"] == ""]
    expected = base[base["record_id"].isin(new)]["redcap_data_access_group"].map(labels)
    assert by_site[by_site > 0].to_dict() == expected.value_counts().to_dict()
    assert diff.removed_patients.empty


def _endpoint(diff, record: str, endpoint: str) -> pd.Series:
    rows = diff.endpoints[(diff.endpoints["record_id"] == record)
                          & (diff.endpoints["endpoint"] == endpoint)]
    assert len(rows) == 1, (record, endpoint, diff.endpoints[["record_id", "endpoint"]])
    return rows.iloc[0]


def test_a_best_response_changed_with_the_calls_that_changed_it(scripted):
    _, script, _, _, diff, _ = scripted
    row = _endpoint(diff, script.bor, "BOR")
    assert row["old"] == "PR" and row["new"] not in ("PR", "CR")
    assert "ia_rano_inv: PR → SD" in row["sources"]
    assert diff.bor_transitions[("PR", row["new"])] >= 1
    assert f"PR→{row['new']}" in diff.summary()


def test_events_and_censoring_that_changed(scripted):
    _, script, _, _, diff, _ = scripted
    ipfs = _endpoint(diff, script.pfs, "iPFS")
    assert ipfs["detail"] == "censored → event" and script.ipd_date in ipfs["new"]
    assert f"ipd_date: (blank) → {script.ipd_date}" in ipfs["sources"]
    os_row = _endpoint(diff, script.death, "OS")
    assert os_row["detail"] == "censored → event"
    assert str(CUT_B - timedelta(days=3)) in os_row["new"]
    assert diff.censoring_moved_on["OS"] > 0  # patients only followed up longer: counted


def test_analysis_set_membership(scripted):
    _, script, _, _, diff, _ = scripted
    row = _endpoint(diff, script.leaves, "safety set")
    assert (row["old"], row["new"]) == ("in", "out")
    assert "eligible: Yes → No" in row["sources"]


def test_new_saes_aesis_and_deaths(scripted):
    _, script, _, _, diff, _ = scripted
    ev = diff.events
    sae = ev[ev["change"] == "SAE"]
    assert (script.sae["record_id"], script.sae["redcap_repeat_instance"]) in set(
        zip(sae["record_id"], sae["instance"], strict=True))
    aesi = ev[ev["change"] == "AESI"]
    assert (script.aesi["record_id"], script.aesi["redcap_repeat_instance"]) in set(
        zip(aesi["record_id"], aesi["instance"], strict=True))
    deaths = ev[ev["change"] == "death"]
    assert script.death in set(deaths["record_id"])
    assert (deaths["date"] <= str(CUT_B)).all()
    # AEs already serious in the first cut are not new
    a = script.a
    old_sae = a[(a["redcap_repeat_instrument"] == AE) & (a["ae_serious"] == YesNo.YES)]
    assert not set(zip(old_sae["record_id"], old_sae["redcap_repeat_instance"],
                       strict=True)) & set(zip(sae["record_id"], sae["instance"], strict=True))


def test_retrospective_changes_counted_and_critical_ones_listed_with_who_and_when(scripted):
    _, script, _, _, diff, _ = scripted
    r = diff.retrospective
    g = script.grade
    grade = r[(r["record_id"] == g["record_id"]) & (r["field"] == "ae_grade")]
    assert len(grade) == 1
    grade = grade.iloc[0]
    assert grade["critical"] and grade["instance"] == g["redcap_repeat_instance"]
    assert (grade["who"], grade["when"]) == (GRADE_USER, GRADE_TIME)
    assert grade["dated"] == g["ae_onset_date"][:10] <= str(CUT_A)
    ecog = r[(r["record_id"] == script.ecog) & (r["field"] == "ecog")].iloc[0]
    assert not ecog["critical"] and (ecog["old"], ecog["new"]) == (script.ecog_old, "2")
    assert ecog["who"].startswith("site_dm_01 (record updated")
    assert ecog["form"] in set(diff.retrospective_counts()["form"])
    crit = diff.critical()
    assert set(crit["field"]) <= set(diff_critical_fields())
    assert ecog["field"] not in set(crit["field"])
    # follow-up, not corrections: the last contact moving on, a death after the cut-off,
    # rows entered after the first cut
    assert not (r["field"] == "last_contact_date").any()
    assert not ((r["record_id"] == script.death) & (r["field"] == "vital_status")).any()
    new_rows = set(zip(r["record_id"], r["form"], r["instance"], strict=True)) - {
        (x, f or "", str(i)) for x, f, i in zip(
            script.a["record_id"], script.a["redcap_repeat_instrument"],
            script.a["redcap_repeat_instance"], strict=True)}
    assert not {k for k in new_rows if k[2]}
    counts = diff.retrospective_counts()
    assert counts["changes"].sum() == len(r)


def test_an_identifier_change_is_counted_but_never_shown(scripted):
    project, script, _, cut_b, diff, _ = scripted
    r = diff.retrospective
    row = r[(r["record_id"] == script.ecog) & (r["field"] == "site_patient_id")].iloc[0]
    assert row["old"] == row["new"] == IDENTIFIER_HIDDEN
    everything = (diff.rows().to_csv() + json.dumps(diff.to_dict(), default=str)
                  + diff_text(diff, "html", cut_b))
    for mrn in script.mrns:
        assert mrn not in everything


def diff_critical_fields():
    from sgbm_redcap.cuts import CRITICAL_FIELDS

    return CRITICAL_FIELDS


def test_the_dictionary_change_is_named_with_its_classification(scripted):
    *_, diff, _ = scripted
    assert diff.dictionary is not None and diff.dictionary.level == "safe"
    assert any(c.field == "ecog" for c in diff.dictionary.changes)
    assert "(safe)" in diff.summary()


def test_a_recut_is_allowed_and_named(scripted, tmp_path):
    project, script, cut_a, cut_b, _, _ = scripted
    earlier = cut_from_frame(tmp_path / "2026-09-30", script.a, project,
                             cutoff=date(2026, 9, 30), created=utc(2026, 11, 27))
    diff = diff_cuts(cut_b, earlier, results_old=scripted_results()[1])
    assert diff.recut and any("Re-cut" in n and "2026-09-30" in n for n in diff.notes)
    assert "re-cut" in diff.summary()


def test_a_cut_of_another_project_is_refused(scripted, tmp_path):
    project, script, cut_a, *_ = scripted
    other = cut_from_frame(tmp_path / "other", script.a, project, cutoff=CUT_A,
                           created=utc(2026, 10, 27), project_id=99)
    with pytest.raises(CutMismatchError, match="different projects") as info:
        diff_cuts(cut_a, other)
    assert "99" in str(info.value) and info.value.exit_code == 2
    result = CliRunner().invoke(main, ["cut", "diff", str(cut_a.path), str(other.path)])
    assert result.exit_code == 2 and "different projects" in result.output


def test_a_cut_compared_with_itself_has_no_change(scripted):
    _, _, cut_a, *_ = scripted
    results = scripted_results()[0]
    diff = diff_cuts(cut_a, cut_a, results_old=results, results_new=results)
    assert diff.new_patients.empty and diff.endpoints.empty and diff.events.empty
    assert diff.retrospective.empty and diff.dictionary is None
    assert sum(diff.censoring_moved_on.values()) == 0


def scripted_results():
    return _RESULTS  # the fixture's analyses of the two cuts (each takes seconds)


def test_cut_diff_on_the_command_line_writes_json(scripted, tmp_path):
    _, _, cut_a, cut_b, diff, _ = scripted
    out = tmp_path / "diff.json"
    result = CliRunner().invoke(main, ["cut", "diff", str(cut_a.path), str(cut_b.path),
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert diff.summary() in result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["summary"] == diff.summary()
    assert len(data["retrospective"]) == len(diff.retrospective)
    assert data["dictionary"]["level"] == "safe"
    assert data["new"]["manifest_sha256"] == cut_b.manifest_sha256


def test_the_csv_and_html_of_a_diff(scripted):
    project, _, _, cut_b, diff, _ = scripted
    frame = pd.read_csv(io.StringIO(diff_text(diff, "csv", cut_b)), dtype=str,
                        keep_default_na=False)
    assert list(frame.columns) == CHANGE_COLUMNS
    assert (frame["change"] == "new patient").sum() == len(diff.new_patients)
    assert (frame["change"].str.startswith("retrospective")).sum() == len(diff.retrospective)
    assert GRADE_USER in set(frame["who"])
    html = diff_text(diff, "html", cut_b)
    assert 'id="changes-retro-critical"' in html and GRADE_USER in html
    assert diff.new.manifest_sha256[:12] in html


def test_the_changes_section_names_forms_and_fields_as_the_crf_does(scripted):
    """Issue 14: the section a monthly report opens with shows no raw form or field name."""
    from report_world import visible_text

    project, _, _, cut_b, diff, _ = scripted
    text = visible_text(diff_text(diff, "html", cut_b))
    names = {f for f in project.dictionary.forms if "_" in f} | {
        f.name for f in project.dictionary if "_" in f.name}
    assert not set(re.findall(r"[a-z][a-z0-9_]*", text)) & names
    assert "Intracranial assessment" in text
