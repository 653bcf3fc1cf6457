"""Missing data codes end to end (issue 13 part 3): the study project in the sandbox declares
project.toml's codes; sites enter them; the pull types them as missing with a reason; the
study's checks take a code as a value no rule judges, REDCap's rule I counts them; the
analyses read them as missing with the reason at hand; the reports count them by reason."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
import redcap
from report_world import visible_text

from sgbm_redcap.analysis.inputs import prepare
from sgbm_redcap.checks.engine import run_checks
from sgbm_redcap.checks.redcap_dq import run_redcap_dq
from sgbm_redcap.dictionary.project import study_project
from sgbm_redcap.jobs.redcap_dq import dq_project
from sgbm_redcap.reports.monthly import write_monthly_report
from sgbm_redcap.reports.outputs import quality_cover, write_quality_report
from sgbm_redcap.sandbox import Sandbox, serve_in_thread
from sgbm_redcap.source import RedcapSource
from sgbm_redcap.source.client import RedcapClient
from sgbm_redcap.synthetic.seed import seed_study

CUTOFF = date(2026, 10, 31)
#: what a site enters on top of the cohort's own codes (Trop-2/Ki-67 ND, PR% UNK)
ENTERED = {"kps": "UNK", "weight_kg": "ASKU", "ecog": "NASK"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    sandbox = Sandbox(tmp_path_factory.mktemp("sandbox"))
    with serve_in_thread(sandbox, port=0) as url:
        seeded = seed_study(sandbox, n=40, problem_rate=0.0, api_url=url)
        project = redcap.Project(url, seeded.token)
        first = seeded.cohort.record_ids[0]
        project.import_records([{"record_id": first, **ENTERED}])
        source = RedcapSource(url, seeded.token, cache_dir=False, progress=False)
        tables = source.tables(full=True)
        dq = run_redcap_dq(dq_project(RedcapClient(url, seeded.token)), rules=["A", "B", "I"])
        yield first, tables, dq


def test_the_pull_keeps_every_code_with_its_reason(world) -> None:
    first, tables, _dq = world
    assert tables.missing_codes == study_project().missing_codes
    reasons = tables.missing_reasons
    mine = reasons[reasons["record_id"] == first].set_index("field")
    for name, code in ENTERED.items():
        assert mine.loc[name, "code"] == code
        assert mine.loc[name, "reason"] == study_project().missing_codes.label(code)
    demo = tables["demographics"].set_index("record_id")
    assert demo.loc[first, ["kps", "weight_kg", "ecog"]].isna().all()  # missing, typed
    assert str(demo["kps"].dtype) == "Int64" and str(demo["weight_kg"].dtype) == "Float64"
    assert tables.type_problems.empty  # a code is never a type problem
    raw = tables.raw.set_index("record_id")
    assert raw.loc[first, "kps"].tolist()[0] == "UNK"  # the export itself keeps the code
    by = reasons.groupby(["field", "code"]).size()
    assert by[("trop2_hscore", "ND")] > 0 and by[("pr_pct", "UNK")] > 0  # the cohort's
    assert "site_patient_id" not in set(reasons["field"])  # @NOMISSING


def test_checks_take_a_code_as_a_value_and_rule_i_counts_it(world) -> None:
    first, tables, dq = world
    found = run_checks(tables, cutoff=CUTOFF).findings
    coded = set(zip(tables.missing_reasons["record_id"], tables.missing_reasons["field"],
                    strict=True))
    judged = found[found["rule_id"].isin(["DQ-B", "DQ-C", "DQ-D", "DQ-G"])]
    assert not [k for k in zip(judged["record_id"], judged["field"], strict=True) if k in coded]
    counts = dq.counts()
    assert counts["I"] == len(tables.missing_reasons)
    listed = dq.discrepancies
    blank = listed[listed["rule"].isin(["A", "B"])]
    assert not [k for k in zip(blank["record"], blank["field"], strict=True)
                if k in coded]


def test_analyses_read_a_code_as_missing_with_its_reason(world) -> None:
    first, tables, _dq = world
    data = prepare(tables)
    demo = data["demographics"].set_index("record_id")
    assert pd.isna(demo.loc[first, "kps"]) and demo.loc[first, "ecog"] is None
    assert data.reasons("kps")[first] == "Unknown"
    assert data.reasons("ecog")[first] == "Not asked"
    trop2 = data["tumour"].set_index("record_id")["trop2_hscore"]
    not_done = data.reasons("trop2_hscore")
    assert len(not_done) and trop2[not_done.index].isna().all()


def test_the_reports_count_the_codes_by_reason(world, tmp_path) -> None:
    first, tables, _dq = world
    project = study_project()
    reasons = tables.missing_reasons
    trop2 = reasons[reasons["field"] == "trop2_hscore"]["reason"].value_counts()
    expected = "Not done " + str(int(trop2["Not done"]))
    files = write_quality_report(tables, project, tmp_path, cutoff=CUTOFF, findings=None,
                                 cover=quality_cover(tables, project, cutoff=CUTOFF,
                                                     data_source="sandbox"), pdf=False)
    quality = visible_text(files[0].read_text(encoding="utf-8"))
    monthly = write_monthly_report(tables, cutoff=CUTOFF, out_dir=tmp_path, pdf=False,
                                   dags=project.dags, project=project)
    text = visible_text(monthly.html.read_text(encoding="utf-8"))
    for page in (quality, text):
        assert "Values entered as a missing data code, by reason" in page
        assert expected in page  # e.g. "Not done 12"
        assert "Unknown 1" in page and "Asked but unknown 1" in page and "Not asked 1" in page
