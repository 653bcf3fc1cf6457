"""REDCap's Data Quality rules A–I and custom rules (``checks.redcap_dq``) on a small
longitudinal project built here: two arms, a repeating instrument, a repeating event, DAGs,
missing data codes and @NOMISSING, so that every rule's definition is pinned cell by cell."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest
from click.testing import CliRunner

from sgbm_redcap.checks.redcap_dq import (
    LETTERS,
    PREDEFINED,
    CustomRule,
    DqProject,
    DqScope,
    Exclusion,
    read_exclusions_csv,
    read_rules_csv,
    run_redcap_dq,
    summary_text,
)
from sgbm_redcap.cli import main
from sgbm_redcap.dictionary.missing import parse_missing_codes
from sgbm_redcap.source.metadata import dictionary_from_text


def _field(name, form, ftype="text", *, validation="", lo="", hi="", choices="",
           logic="", required=False, note=""):
    return {"field_name": name, "form_name": form, "field_type": ftype,
            "field_label": name.replace("_", " "), "select_choices_or_calculations": choices,
            "text_validation_type_or_show_slider_number": validation,
            "text_validation_min": lo, "text_validation_max": hi, "branching_logic": logic,
            "required_field": "y" if required else "", "field_annotation": note}


FIELDS = [
    _field("record_id", "enrolment"),
    _field("age", "enrolment", validation="integer", lo="18", hi="120", required=True),
    _field("weight", "enrolment", validation="number_1dp_comma_decimal", lo="0,0",
           hi="300,0"),
    _field("smoker", "enrolment", "yesno"),
    _field("packs", "enrolment", validation="integer", logic="[smoker] = '1'"),
    _field("ugt", "enrolment", "radio", choices="1, Wildtype | 2, Mutant"),
    _field("mets", "enrolment", "checkbox", choices="1, Liver | 2, Lung"),
    _field("hidden_note", "enrolment", note="@HIDDEN"),
    _field("nomiss", "enrolment", validation="integer", note="@NOMISSING"),
    _field("age_next", "enrolment", "calc", choices="[age] + 1"),
    _field("sbp", "visit", validation="integer"),
    _field("visit_date", "visit", validation="date_ymd"),
    _field("vnote", "visit", required=True),
    _field("vlabel", "visit", note="@CALCTEXT(concat('BP ', [sbp]))"),
]
FORM_EVENTS = {"baseline_arm_1": ["enrolment", "visit"], "followup_arm_1": ["visit"],
               "screen_arm_2": ["enrolment"]}
CODES = parse_missing_codes("UNK, Unknown | NASK, Not asked")
COLUMNS = ["record_id", "redcap_event_name", "redcap_repeat_instrument",
           "redcap_repeat_instance", "redcap_data_access_group", "age", "weight", "smoker",
           "packs", "ugt", "mets___1", "mets___2", "mets___unk", "mets___nask", "hidden_note",
           "nomiss", "age_next", "enrolment_complete", "sbp", "visit_date", "vnote", "vlabel",
           "visit_complete"]


def _row(record, event, instrument="", instance="", dag="", **values):
    row = dict.fromkeys(COLUMNS, "")
    row.update(record_id=record, redcap_event_name=event, redcap_repeat_instrument=instrument,
               redcap_repeat_instance=instance, redcap_data_access_group=dag, **values)
    return row


def _enrolment(record, dag="", event="baseline_arm_1", **values):
    base = dict(age="50", weight="70,0", smoker="0", ugt="1", mets___1="1", mets___2="0",
                mets___unk="0", mets___nask="0", nomiss="1", age_next="51",
                enrolment_complete="2")
    base.update(values)
    return _row(record, event, dag=dag, **base)


def _visit(record, instance, sbp, dag="", event="baseline_arm_1", **values):
    base = dict(sbp=str(sbp), visit_date="2026-01-0" + str(instance), vnote="ok",
                vlabel=f"BP {sbp}", visit_complete="2")
    base.update(values)
    repeating_event = event == "followup_arm_1"
    return _row(record, event, "" if repeating_event else "visit", str(instance), dag, **base)


def _records() -> pd.DataFrame:
    rows = [
        # record 1, site A: out of range, invalid choice, blank shown field, @NOMISSING code
        _enrolment("1", "site_a", age="200", age_next="", smoker="1", packs="", ugt="3",
                   nomiss="UNK", mets___1="0"),
        _visit("1", 1, 120, "site_a"),
        _visit("1", 2, "UNK", "site_a", vnote="", vlabel=""),
        _row("1", "followup_arm_1", "", "1", "site_a", sbp="118", vnote="", vlabel="BP 118",
             visit_complete="0"),
        _row("1", "followup_arm_1", "", "2", "site_a", sbp="119", vnote="fine",
             vlabel="wrong", visit_complete="0"),
        # record 2, site B: a missing data code, comma-decimal out of range, hidden value,
        # stored calc that the equation does not give
        _enrolment("2", "site_b", age="NASK", weight="400,0", packs="5", age_next="99",
                   mets___1="0", mets___nask="1"),
        _visit("2", 1, 121, "site_b"),
        # record 3 only in arm 2
        _enrolment("3", event="screen_arm_2", weight="71,5"),
    ]
    for i, sbp in enumerate([122, 119, 120, 121, 118, 120, 400], start=4):
        rows.append(_enrolment(str(i)))
        rows.append(_visit(str(i), 1, sbp))
    return pd.DataFrame(rows, columns=COLUMNS)


def _project(custom=()) -> DqProject:
    return DqProject(
        dictionary_from_text(json.dumps(FIELDS)), _records(), form_events=FORM_EVENTS,
        repeating=frozenset({("baseline_arm_1", "visit")}),
        repeating_events=frozenset({"followup_arm_1"}), missing_codes=CODES,
        custom_rules=list(custom))


def _cells(result, rule):
    d = result.discrepancies
    d = d[d["rule"] == rule]
    return {(r.record, r.redcap_event_name, r.redcap_repeat_instrument,
             str(r.redcap_repeat_instance), r.field) for r in d.itertuples(index=False)}


@pytest.fixture(scope="module")
def result():
    return run_redcap_dq(_project(), today=date(2026, 6, 1))


def test_the_table_is_redcap_s_rules_in_redcap_s_words(result):
    assert list(result.summary["rule"]) == list(LETTERS)
    assert dict(zip(result.summary["rule"], result.summary["name"], strict=True)) == dict(
        PREDEFINED)
    assert PREDEFINED[0] == ("A", "Blank values*")
    assert PREDEFINED[8] == ("I", 'Fields containing "missing data codes"')
    text = summary_text(result)
    assert text.splitlines()[0].split() == ["Rule", "#", "Rule", "Name", "Total",
                                            "Discrepancies"]
    counts = result.counts()
    assert all(counts[r] == len(_cells(result, r)) for r in LETTERS)


def test_rule_a_blank_values_respect_branching_hidden_and_missing_codes(result):
    a = _cells(result, "A")
    # shown and blank: record 1's packs (smoker = 1), a blank checkbox, a blank visit note
    assert ("1", "baseline_arm_1", "", "", "packs") in a
    assert ("1", "baseline_arm_1", "", "", "mets") in a
    assert ("1", "baseline_arm_1", "visit", "2", "vnote") in a
    # a repeating *event*'s instance is checked too, and the calc left blank
    assert ("1", "followup_arm_1", "", "1", "vnote") in a
    assert ("1", "baseline_arm_1", "", "", "age_next") in a
    # hidden by branching (smoker = 0), @HIDDEN, or holding a missing data code: not blank
    assert not {c for c in a if c[4] == "packs" and c[0] != "1"}
    assert not {c for c in a if c[4] == "hidden_note"}
    assert ("2", "baseline_arm_1", "", "", "age") not in a
    assert ("1", "baseline_arm_1", "visit", "2", "sbp") not in a
    assert ("2", "baseline_arm_1", "", "", "mets") not in a  # its NASK code column
    # a form not designated on the event is never checked (visit is not on screen_arm_2)
    assert not {c for c in a if c[1] == "screen_arm_2" and c[4] in ("sbp", "vnote")}


def test_rule_b_is_rule_a_for_required_fields(result):
    assert _cells(result, "B") == {c for c in _cells(result, "A") if c[4] in ("age", "vnote")}
    assert ("1", "followup_arm_1", "", "1", "vnote") in _cells(result, "B")


def test_rule_c_validation_errors_a_nomissing_field_takes_no_code(result):
    assert _cells(result, "C") == {("1", "baseline_arm_1", "", "", "nomiss")}


def test_rule_d_out_of_range_reads_comma_decimals(result):
    assert _cells(result, "D") == {("1", "baseline_arm_1", "", "", "age"),
                                   ("2", "baseline_arm_1", "", "", "weight")}


def test_rule_e_outliers_are_two_sd_from_the_mean(result):
    e = _cells(result, "E")
    assert ("10", "baseline_arm_1", "visit", "1", "sbp") in e
    assert not {c for c in e if c[4] == "sbp" and c[0] != "10"}
    # age 200 among ten 50s is an outlier too (REDCap does not leave ranged fields to D)
    assert ("1", "baseline_arm_1", "", "", "age") in e


def test_rule_f_hidden_field_with_a_value(result):
    assert _cells(result, "F") == {("2", "baseline_arm_1", "", "", "packs")}


def test_rule_g_invalid_choice_a_missing_code_is_not_one(result):
    assert _cells(result, "G") == {("1", "baseline_arm_1", "", "", "ugt")}


def test_rule_h_calculations_including_blank_stored_and_calctext(result):
    h = _cells(result, "H")
    assert ("1", "baseline_arm_1", "", "", "age_next") in h          # stored blank, 201 due
    assert ("2", "baseline_arm_1", "", "", "age_next") in h          # 99 stored, blank due
    assert ("1", "followup_arm_1", "", "2", "vlabel") in h           # @CALCTEXT 'wrong'
    assert ("1", "baseline_arm_1", "visit", "2", "vlabel") in h      # blank, 'BP UNK' due
    assert ("4", "baseline_arm_1", "", "", "age_next") not in h
    assert not {c for c in h if c[1] == "screen_arm_2"}


def test_rule_i_missing_data_codes_but_not_in_a_nomissing_field(result):
    assert _cells(result, "I") == {("2", "baseline_arm_1", "", "", "age"),
                                   ("1", "baseline_arm_1", "visit", "2", "sbp"),
                                   ("2", "baseline_arm_1", "", "", "mets")}
    values = result.discrepancies[result.discrepancies["rule"] == "I"]["value"]
    assert set(values) == {"NASK", "UNK"}


def test_findings_carry_event_instance_and_dag(result):
    d = result.discrepancies
    row = d[(d["rule"] == "D") & (d["field"] == "weight")].iloc[0]
    assert (row["record"], row["redcap_event_name"], row["dag"]) == (
        "2", "baseline_arm_1", "site_b")
    assert list(d.columns) == ["rule", "record", "redcap_event_name",
                               "redcap_repeat_instrument", "redcap_repeat_instance", "field",
                               "value", "status", "dag", "excluded"]


def test_custom_rules_are_redcap_logic_per_event_and_instance():
    rules = [CustomRule(1, "Bad UGT code at baseline", "[baseline_arm_1][ugt] = '3'"),
             CustomRule(2, "High BP", "[sbp] > 200"),
             CustomRule(3, "Site A", "[user-dag-name] = 'site_a' and [vnote] = ''")]
    r = run_redcap_dq(_project(rules), rules=["custom"], today=date(2026, 6, 1))
    assert list(r.summary["rule"]) == ["1", "2", "3"]
    # [event][field] reaches the baseline from every row of record 1
    assert {(c[0], c[1]) for c in _cells(r, "1")} == {("1", "baseline_arm_1"),
                                                     ("1", "followup_arm_1")}
    # a missing data code is text to the logic, and text > 200 as text (PHP's comparison):
    # REDCap's isblankormissingcode() family exists for this
    assert _cells(r, "2") == {("10", "baseline_arm_1", "visit", "1", ""),
                              ("1", "baseline_arm_1", "visit", "2", "")}
    assert r.counts()["3"] == 0  # an unscoped run has no user DAG
    mine = run_redcap_dq(_project(rules), rules=["3"], scope=DqScope("alice", "site_a"))
    # every row is evaluated, the event's own row too (it has no visit note: the visit form
    # repeats there), as REDCap counts Project418's [ptname]<>[name]
    assert _cells(mine, "3") == {("1", "baseline_arm_1", "", "", ""),
                                 ("1", "baseline_arm_1", "visit", "2", ""),
                                 ("1", "followup_arm_1", "", "1", "")}
    other = run_redcap_dq(_project(rules), rules=["3"], scope=DqScope("bob", "site_b"))
    assert other.counts()["3"] == 0


def test_a_dag_user_sees_only_the_dag_s_records():
    r = run_redcap_dq(_project(), rules=["A", "I"], scope=DqScope("bob", "site_b"))
    assert set(r.discrepancies["record"]) == {"2"}


def test_user_rights_a_and_b_skip_unviewable_forms_others_hide_the_value():
    rules = [CustomRule(1, "BP", "[sbp] > 200"), CustomRule(2, "Age", "isnumber([age]) and [age] > 100")]
    scope = DqScope("carol", forms=frozenset({"enrolment"}))
    r = run_redcap_dq(_project(rules), scope=scope, today=date(2026, 6, 1))
    assert not {c for c in _cells(r, "A") if c[4] in ("vnote", "sbp")}
    e = r.discrepancies[(r.discrepancies["rule"] == "E") & (r.discrepancies["field"] == "sbp")]
    assert len(e) == 1 and e.iloc[0]["value"].startswith("[cannot display data]")
    summary = r.summary.set_index("rule")
    assert summary.loc["1", "error"] and summary.loc["1", "discrepancies"] is None
    assert "sbp" in summary.loc["1", "error"]
    # record 1's age, on its baseline row and on both visit instances of that event (a
    # repeating row sees the event's non-repeating values)
    assert r.counts()["2"] == 3 and not summary.loc["2", "error"]


def test_exclusions_are_listed_but_not_counted():
    base = run_redcap_dq(_project(), rules=["D"])
    out = run_redcap_dq(_project(), rules=["D"], exclusions=[
        Exclusion("D", "1", "baseline_arm_1", "", "", "age")])
    assert base.counts()["D"] == 2 and out.counts()["D"] == 1
    assert int(out.summary.iloc[0]["excluded"]) == 1
    assert out.discrepancies["excluded"].sum() == 1


def test_rule_and_exclusion_files():
    rules = read_rules_csv("rule_name,rule_logic,real_time_execute\n"
                           "BP,[sbp] > 200,1\nAge,\"[age] > 100\",0\n")
    assert rules == [CustomRule(1, "BP", "[sbp] > 200", True),
                     CustomRule(2, "Age", "[age] > 100", False)]
    with pytest.raises(ValueError, match="rule_logic"):
        read_rules_csv("name,logic\nx,y\n")
    ex = read_exclusions_csv("rule,record,redcap_event_name,redcap_repeat_instrument,"
                             "redcap_repeat_instance,field\nd,1,baseline_arm_1,,,age\n")
    assert ex == [Exclusion("D", "1", "baseline_arm_1", "", "", "age")]


def test_unknown_rule_selection_is_refused():
    with pytest.raises(ValueError, match="no Data Quality rule 'Z'"):
        run_redcap_dq(_project(), rules=["Z"])


def test_cli_refuses_an_export_file_and_an_unknown_rule(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in ("SGBM_REDCAP_REDCAP_URL", "SGBM_REDCAP_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    export = tmp_path / "records.csv"
    _records().to_csv(export, index=False)
    r = CliRunner().invoke(main, ["checks", "redcap-dq", "--records", str(export)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert r.stderr.strip().startswith("Error: checks redcap-dq reads the project's events")
    r = CliRunner().invoke(main, ["checks", "redcap-dq"])
    assert r.exit_code == 2 and "--sandbox" in r.stderr


def test_the_study_s_dq_d_reads_comma_decimal_limits_too():
    """The sweep's DQ-D and REDCap's D agree on a comma-decimal field (0,0 to 300,0)."""
    from sgbm_redcap.checks import REGISTRY, run_checks

    d = dictionary_from_text(json.dumps(FIELDS[:3]))
    raw = pd.DataFrame({"record_id": ["1", "2", "3"], "age": ["50", "50", "50"],
                        "weight": ["400,0", "70,5", ""]})
    found = run_checks(raw, dictionary=d, rules=[REGISTRY.get("DQ-D")]).findings
    assert list(zip(found["record_id"], found["field"], strict=True)) == [("1", "weight")]
