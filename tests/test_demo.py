"""The demo end to end on a small cohort (the CLI command `make demo` runs), HTML only."""

from __future__ import annotations

import json
import re
from html import escape

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
    order = ["data cut 2026-10-25", "a month later: sites entered", "first sweep:",
             "sites corrected", "second sweep:", "data cut 2026-11-25"]
    found = [next(i for i, s in enumerate(steps) if s.startswith(o)) for o in order]
    assert found == sorted(found) and found[0] == 2
    assert steps[-1] == "sandbox stopped"
    for name in ("monthly_report_2026-10-25.html", "monthly_report_2026-11-25.html",
                 "data_quality_2026-11-25.html", f"codebook_{version}.html",
                 "monitoring_2026-11-25.html"):
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


def test_two_cuts_a_month_apart_and_the_second_report_shows_the_changes(demo):
    from sgbm_redcap.cuts import read_cut
    from sgbm_redcap.jobs.synthetic import DEFAULT_SEED, two_waves

    out, _ = demo
    first, second = read_cut(out / "cuts" / "2026-10-25"), read_cut(out / "cuts" / "2026-11-25")
    assert second.info["previous"]["manifest_sha256"] == first.manifest_sha256
    assert first.info["n_records"] < second.info["n_records"] == 30  # new patients entered
    earlier = (out / "monthly_report_2026-10-25.html").read_text()
    assert "This is the first data cut" in earlier and first.manifest_sha256 in earlier
    later = (out / "monthly_report_2026-11-25.html").read_text()
    assert '<section id="changes"' in later and second.manifest_sha256 in later
    assert later.index('<section id="changes"') < later.index('<section id="study-status"')
    # the scripted retrospective corrections are listed among the critical changes
    waves = two_waves(load_project("redcap_project"), n=30, seed=DEFAULT_SEED,
                      problem_rate=0.1)
    assert waves.corrections
    table = later[later.index('id="changes-retro-critical"'):]
    table = table[:table.index("</table>")]
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S) for row in table.split("<tr")]
    dictionary = load_project("redcap_project").dictionary
    for c in waves.corrections:
        # the field as the CRF words it (issue 14: no raw field name in the report)
        label = escape(dictionary.field(c.field).label)
        assert any(cells[:1] == [c.record_id] and label in cells for cells in rows), c
