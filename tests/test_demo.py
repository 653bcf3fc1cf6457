"""The demo end to end on a small cohort (the CLI command `make demo` runs), HTML only."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from sgbm_redcap.cli import main
from sgbm_redcap.dictionary.project import load_project


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(main, ["demo", "--out", str(out), "--patients", "30",
                                       "--no-pdf"], catch_exceptions=False)
    return out, result


def test_demo_runs_every_step_and_says_where_the_files_are(demo):
    out, result = demo
    assert result.exit_code == 0, result.output
    steps = re.findall(r"^· (.*)$", result.output, flags=re.M)
    assert steps[0].startswith("sandbox REDCap listening on http://127.0.0.1:")
    version = load_project("redcap_project").version
    assert steps[1].startswith(f"study project {version} built from redcap_project/; 30 ")
    assert steps[2].startswith("first sweep:") and steps[3].startswith("sites corrected")
    assert steps[4].startswith("second sweep:")
    assert steps[-1] == "sandbox stopped"
    for name in ("monthly_report_2026-11-25.html", "data_quality_2026-11-25.html",
                 f"codebook_{version}.html"):
        assert (out / name).is_file() and str(out / name) in result.output
    assert list((out / "site_queries").glob("queries_site_*.html"))


def test_second_sweep_closes_what_sites_fixed_and_reopens_what_they_only_answered(demo):
    out, result = demo
    first = re.search(r"first sweep: .*?(\d+) findings; posted (\d+) new", result.output)
    sites = re.search(r"sites corrected (\d+) values and answered (\d+) queries",
                      result.output)
    second = re.search(r"second sweep: .*?posted (\d+) new, (\d+) closed, (\d+) reopened",
                       result.output)
    assert first and sites and second
    assert int(first.group(2)) > 0
    fixed, answered = int(sites.group(1)), int(sites.group(2))
    assert int(second.group(2)) >= fixed > 0
    assert int(second.group(3)) == answered
    audit = (out / "audit" / "queries.jsonl").read_text().splitlines()
    assert len(audit) == int(first.group(2)) + int(second.group(1)) + int(second.group(2)) \
        + int(second.group(3))
    assert all(json.loads(line)["action"] for line in audit)


def test_reports_reflect_the_swept_queries(demo):
    out, _ = demo
    html = (out / "data_quality_2026-11-25.html").read_text()
    assert 'id="queries-by-site"' in html and "No data query has been raised" not in html
    monthly = (out / "monthly_report_2026-11-25.html").read_text()
    assert "sandbox REDCap at http://127.0.0.1:" in monthly
