"""Cuts of a REDCap (the sandbox, over HTTP through PyCap): everything a report needs and
never the token; the second cut's log slice starts where the first's ended, so a value
changed in between is named with who changed it and when; the report renders from the cut
with no REDCap at all."""

from __future__ import annotations

from datetime import date

import pytest
from sweep_helpers import seeded_study

from sgbm_redcap import jobs
from sgbm_redcap.cuts import FILES, MANIFEST, diff_cuts

FIRST, SECOND = date(2026, 11, 25), date(2026, 11, 30)


@pytest.fixture(scope="module")
def two_cuts(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sandbox-cuts")
    mp = pytest.MonkeyPatch()
    with seeded_study(tmp, n=12, problem_rate=0.0) as sandbox:
        mp.setenv("SGBM_REDCAP_TOKEN", sandbox.token)
        study = jobs.load_study(redcap_url=sandbox.url, cache_dir=tmp / "cache",
                                backoff_s=0.01)
        first = jobs.create_cut(study, cutoff=FIRST, cuts_dir=tmp / "cuts")
        ae = next(r for r in sandbox.cohort.records
                  if r["redcap_repeat_instrument"] == "adverse_events"
                  and r.get("ae_grade") in ("1", "2") and r["ae_onset_date"] <= str(FIRST))
        corrected = str(int(ae["ae_grade"]) + 1)
        sandbox.import_rows([{"record_id": ae["record_id"],
                              "redcap_repeat_instrument": "adverse_events",
                              "redcap_repeat_instance": ae["redcap_repeat_instance"],
                              "ae_grade": corrected}])
        second = jobs.create_cut(study, cutoff=SECOND, cuts_dir=tmp / "cuts")
        token = sandbox.token
    mp.undo()
    return tmp, study, first, second, ae, corrected, token


def test_a_cut_holds_the_project_and_never_the_token(two_cuts):
    _, _, first, second, _, _, token = two_cuts
    for cut in (first, second):
        for name in (*FILES, MANIFEST):
            assert token.encode() not in (cut.path / name).read_bytes(), name
        assert cut.info["project_id"] and cut.info["source"].startswith("http://127.0.0.1:")
        assert cut.setup["repeating"] and cut.setup["dags"]
        assert cut.info["n_records"] == 12 and cut.info["watermark"]
    assert first.log_entries and first.info["log"]["since"] == ""
    assert second.info["previous"]["manifest_sha256"] == first.manifest_sha256
    assert second.info["log"]["since"] == first.info["watermark"]
    assert all(e["timestamp"] >= first.info["watermark"][:16] for e in second.log_entries)


def test_the_change_between_the_cuts_is_named_with_who_and_when(two_cuts):
    _, _, first, second, ae, corrected, _ = two_cuts
    diff = diff_cuts(first, second)
    r = diff.critical()
    row = r[(r["record_id"] == ae["record_id"]) & (r["field"] == "ae_grade")].iloc[0]
    assert (row["old"], row["new"]) == (ae["ae_grade"], corrected)
    entry = next(e for e in second.log_entries if e["record"] == ae["record_id"]
                 and "ae_grade" in e["details"])
    assert (row["who"], row["when"]) == (entry["username"], entry["timestamp"])
    assert len(diff.retrospective) == 1 and diff.new_patients.empty


def test_the_report_renders_from_the_cut_without_redcap(two_cuts, monkeypatch):
    tmp, study, first, second, ae, _, _ = two_cuts
    # the sandbox is gone: any read of REDCap would fail
    files = jobs.monthly_report(study, out_dir=tmp / "out", cut=second.path, pdf=False,
                                checks=False)
    html = files.html.read_text(encoding="utf-8")
    assert second.manifest_sha256 in html and '<section id="changes"' in html
    assert files.context.find("changes-retro-critical").rows[0][0] == ae["record_id"]
