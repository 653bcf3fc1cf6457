"""The codebook (the dictionary as a document) and the data-quality report / site listings."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pandas as pd
import pytest

from sgbm_redcap.dictionary import load_dictionary
from sgbm_redcap.dictionary.project import load_project
from sgbm_redcap.reports.codebook import build_codebook, render_codebook
from sgbm_redcap.reports.contexts import Cover, study_cover
from sgbm_redcap.reports.env import render
from sgbm_redcap.reports.quality import (
    build_quality_context,
    completeness,
    query_frame,
    query_metrics,
    site_listing,
)

DICTIONARY = """\
Variable / Field Name,Form Name,Section Header,Field Type,Field Label,"Choices, Calculations, OR Slider Labels",Field Note,Text Validation Type OR Show Slider Number,Text Validation Min,Text Validation Max,Identifier?,Branching Logic (Show field only if...),Required Field?,Custom Alignment,Question Number (surveys only),Matrix Group Name,Matrix Ranking?,Field Annotation
record_id,enrolment,,text,Study ID,,,,,,,,,,,,,
mrn,enrolment,,text,Hospital number,,,,,,y,,y,,,,,
eligible,enrolment,,yesno,Eligible?,,,,,,,,y,,,,,
inelig_reason,enrolment,,text,Why not <b>eligible</b>?,,,,,,,[eligible] = '0',y,,,,,
dq_id,data_queries,,text,Query id,,,,,,,,,,,,,
dq_status,data_queries,,radio,Status,"1, Open | 2, Answered | 3, Closed | 4, Reopened",,,,,,,,,,,,
dq_form,data_queries,,text,Form,,,,,,,,,,,,,
dq_field,data_queries,,text,Field,,,,,,,,,,,,,
dq_message,data_queries,,text,Message,,,,,,,,,,,,,
dq_opened_date,data_queries,,text,Opened,,,date_ymd,,,,,,,,,,
dq_answered_date,data_queries,,text,Answered,,,date_ymd,,,,,,,,,,
dq_closed_date,data_queries,,text,Closed,,,date_ymd,,,,,,,,,,
"""
CUTOFF = date(2026, 10, 31)


def _cover() -> Cover:
    return study_cover("Data-quality report", CUTOFF, extract_date=None,
                       dictionary_version="1.0.0", data_source="test",
                       generated_at=datetime(2026, 11, 1, tzinfo=timezone.utc),
                       package_versions=[])


def _raw() -> pd.DataFrame:
    base = {"redcap_repeat_instrument": "", "redcap_repeat_instance": ""}
    rows = [
        {**base, "record_id": "1", "redcap_data_access_group": "site_a", "mrn": "MRN-123456",
         "eligible": "1", "inelig_reason": ""},
        {**base, "record_id": "2", "redcap_data_access_group": "site_a", "mrn": "MRN-654321",
         "eligible": "0", "inelig_reason": ""},          # shown and blank: incomplete
        {**base, "record_id": "3", "redcap_data_access_group": "site_b", "mrn": "",
         "eligible": "0", "inelig_reason": "<script>x</script>"},
    ]
    q = {"redcap_repeat_instrument": "data_queries", "redcap_data_access_group": ""}
    rows += [
        {**q, "record_id": "2", "redcap_repeat_instance": "1", "dq_id": "R1:2:enrolment:0:x",
         "dq_status": "1", "dq_form": "enrolment", "dq_field": "inelig_reason",
         "dq_message": "<b>Please</b> give the reason", "dq_opened_date": "2026-09-01"},
        {**q, "record_id": "3", "redcap_repeat_instance": "1", "dq_id": "R2:3:enrolment:0:y",
         "dq_status": "3", "dq_form": "enrolment", "dq_field": "mrn", "dq_message": "m",
         "dq_opened_date": "2026-10-10", "dq_closed_date": "2026-10-20"},
        {**q, "record_id": "3", "redcap_repeat_instance": "2", "dq_id": "R3:3:enrolment:0:z",
         "dq_status": "2", "dq_form": "enrolment", "dq_field": "eligible", "dq_message": "m",
         "dq_opened_date": "2026-10-15", "dq_answered_date": "2026-10-16"},
    ]
    return pd.DataFrame(rows).fillna("")


@pytest.fixture(scope="module")
def dictionary():
    return load_dictionary(DICTIONARY.encode())


def test_codebook_lists_every_form_and_field_of_the_study_dictionary():
    project = load_project("redcap_project")
    ctx = build_codebook(project.dictionary, version=project.version,
                         repeating_forms=project.repeating_forms)
    assert [f.name for f in ctx.forms] == project.dictionary.forms
    assert ctx.n_fields == len(project.dictionary.fields)
    repeating = {f.name for f in ctx.forms if f.repeating}
    assert repeating == set(project.repeating_forms) & set(project.dictionary.forms)
    html = render("codebook.html.j2", ctx)
    for field in project.dictionary.fields[:: max(1, len(project.dictionary.fields) // 25)]:
        assert f'id="field-{field.name}"' in html
    assert html.count('class="badge id"') == 1 + sum(f.identifier for f in
                                                     project.dictionary.fields)


def test_codebook_escapes_labels_and_shows_codes(dictionary):
    html = render_codebook(dictionary, version="9.9.9")
    assert "Why not &lt;b&gt;eligible&lt;/b&gt;?" in html
    assert "<code>4</code>&nbsp;Reopened" in html
    assert "Shown when <code>[eligible] = &#39;0&#39;</code>" in html


def test_query_metrics_count_the_month_before_the_cutoff():
    q = query_frame(_raw())
    assert list(q["status"]) == ["Open", "Closed", "Answered"]
    m = query_metrics(q, cutoff=CUTOFF)
    assert (m.opened_in_period, m.answered_in_period, m.closed_in_period) == (2, 1, 1)
    assert (m.open_now, m.answered_now, m.median_days_to_close) == (1, 1, 10.0)


def test_completeness_counts_only_fields_that_are_shown(dictionary):
    comp, skipped = completeness(_raw(), dictionary)
    assert skipped == 0
    by = comp.set_index(["dag", "form"])
    # site_a: mrn 2/2, eligible 2/2, inelig_reason shown for record 2 only and blank
    assert tuple(by.loc[("site_a", "enrolment"), ["expected", "filled"]]) == (5, 4)
    assert tuple(by.loc[("site_b", "enrolment"), ["expected", "filled"]]) == (3, 2)
    assert "data_queries" not in set(comp["form"])


def test_quality_report_and_site_listing_render_escaped(dictionary):
    raw = _raw()
    findings = pd.DataFrame({"rule_id": ["R1"], "severity": ["error"], "record_id": ["2"],
                             "form": ["enrolment"], "instance": [0], "field": ["x"],
                             "message": ["m"], "value": [""], "dag": ["site_a"]})
    ctx = build_quality_context(raw, dictionary, findings, cover=_cover(),
                                dags=[("site_a", "Site A"), ("site_b", "Site B")],
                                rule_titles={"R1": "<i>Reason</i> given"})
    html = render("data_quality.html.j2", ctx)
    assert "<i>" not in html and "&lt;i&gt;Reason&lt;/i&gt; given" in html
    assert "MRN-123456" not in html
    by_site = {r[0]: r for r in ctx.find("queries-by-site").rows}
    assert by_site["Site B"][1:5] == ["2", "0", "1", "1"]
    listing = site_listing(raw, "site_a", cover=_cover(), site_label="Site A")
    assert len(listing.open_queries.rows) == 1 and listing.answered_queries.rows == []
    assert listing.open_queries.rows[0][6] == str((pd.Timestamp(CUTOFF) -
                                                   pd.Timestamp("2026-09-01")).days)
    page = render("site_queries.html.j2", listing)
    assert "&lt;b&gt;Please&lt;/b&gt;" in page and "<b>Please" not in page


def test_quality_report_lists_values_that_do_not_fit_their_type(dictionary):
    from sgbm_redcap.source import build_tables

    raw = _raw()
    raw.loc[0, "eligible"] = "maybe"            # a yesno field: '1' or '0'
    raw.loc[1, "mrn"] = "MRN-999"               # an identifier: typed text, never a problem
    tables = build_tables(raw, dictionary, repeating_forms=["data_queries"])
    assert len(tables.type_problems) == 1
    ctx = build_quality_context(raw, dictionary, pd.DataFrame(columns=[
        "rule_id", "severity", "record_id", "form", "instance", "field", "message", "value",
        "dag"]), cover=_cover(), type_problems=tables.type_problems)
    table = ctx.find("type-problems")
    assert table.columns == ["Record", "Instrument", "Instance", "Field", "Value", "Expected"]
    (row,) = table.rows
    # instrument and field as the CRF words them, not their names
    assert row[0] == "1" and row[3] == dictionary.field("eligible").label and row[4] == "maybe"
    assert row[1] == "Enrolment"
    assert row[5] == tables.type_problems["expected"].iloc[0] and "yesno" in row[5].lower()


def test_type_problems_of_identifier_fields_never_show_the_value(dictionary):
    problems = pd.DataFrame({"record_id": ["1"], "redcap_event_name": [""],
                             "form": ["enrolment"], "redcap_repeat_instance": [""],
                             "field": ["mrn"], "value": ["MRN-123456"],
                             "expected": ["integer"]})
    ctx = build_quality_context(_raw(), dictionary, pd.DataFrame(columns=[
        "rule_id", "severity", "record_id", "form", "instance", "field", "message", "value",
        "dag"]), cover=_cover(), type_problems=problems)
    html = render("data_quality.html.j2", ctx)
    assert ctx.find("type-problems").rows[0][3] == dictionary.field("mrn").label
    assert "MRN-123456" not in html


def test_site_listing_words_rule_ids_and_puts_the_note_under_its_message():
    """Issue 14: no column one word wide (the sweep note is no column of its own), the note
    never repeats the message, a rule id always comes with its words."""
    from sgbm_redcap.reports.quality import rule_titles

    raw = _raw()
    first = raw.index[raw["dq_id"] == "R1:2:enrolment:0:x"][0]
    raw["dq_rule"] = ""
    raw["dq_note"] = ""
    raw.loc[first, "dq_rule"] = "DQ-B"
    raw.loc[first, "dq_note"] = ("Reopened by the sweep on 2026-10-01: the data still show "
                                 "the problem. <b>Please</b> give the reason")
    listing = site_listing(raw, "site_a", cover=_cover(), site_label="Site A")
    table = listing.open_queries
    assert "Sweep note" not in table.columns and len(table.columns) == len(table.rows[0])
    (row,) = table.rows
    message = row[table.columns.index("What to check")]
    assert message.count("<b>Please</b> give the reason") == 1
    assert "Reopened by the sweep on 2026-10-01" in message
    assert row[-1] == "DQ-B"
    assert f"DQ-B {rule_titles()['DQ-B']}" in table.footnote


def test_codebook_titles_forms_as_redcap_shows_them_and_never_breaks_a_code():
    """Issue 14: instrument titles are the project's instrument labels (what REDCap shows),
    and a choice code is one unbreakable unit (a code like 24 never splits as 2 / 4)."""
    from sgbm_redcap.reports.env import templates_dir

    project = load_project("redcap_project")
    ctx = build_codebook(project.dictionary, version=project.version,
                         repeating_forms=project.repeating_forms, project=project)
    assert {f.name: f.label for f in ctx.forms} == {
        form: project.form_label(form) for form in project.dictionary.forms}
    assert dict((f.name, f.label) for f in ctx.forms)["brain_mets_baseline"] == \
        "Brain metastases at baseline"
    html = render("codebook.html.j2", ctx)
    assert '<span class="choice"><code>24</code>&nbsp;Type IID</span>' in html
    css = (templates_dir() / "report.css.j2").read_text(encoding="utf-8")
    assert ".codebook-table .choice code { white-space: nowrap; }" in css
