"""Record export/import/delete through unmodified PyCap 2.7.0, over HTTP and in-process.

Each behaviour comes from REDCAP_API.md §3, §4.3–§4.5 and the pitfalls of §8.
"""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pytest
import redcap
from sandbox_fixtures import *  # noqa: F403  (the shared fixtures)
from sandbox_fixtures import seed_two

pytestmark = pytest.mark.usefixtures("api")


def test_flat_export_shape_follows_metadata_with_repeating_and_checkbox_columns(project):
    seed_two(project)
    text = project.export_records(format_type="csv")
    header, *lines = text.strip().split("\n")
    assert header == (
        "record_id,redcap_repeat_instrument,redcap_repeat_instance,enrol_date,age,kps,email,"
        "eligible,ec_mets___1,ec_mets___2,ec_mets____99,subtype,consent_doc,enrolment_complete,"
        "ae_term,ae_grade,ae_onset_date,age_x2,ae_comment,adverse_events_complete")
    assert lines[0].startswith("1,,,2024-09-01,55,,,1,1,0,1,2,,0,,,,,")
    # a repeating row: other forms blank, its own form status gray = 0, calc re-run (55*2)
    assert lines[1] == "1,adverse_events,1,,,,,,,,,,,,1,3,2024-10-02,110,,0"
    assert [ln.split(",")[0] for ln in lines] == ["1", "1", "1", "2"]


def test_import_count_is_distinct_records_and_return_content_variants(project):
    rows = [{"record_id": "7", "redcap_repeat_instrument": "adverse_events",
             "redcap_repeat_instance": str(i), "ae_term": "1"} for i in (1, 2)]
    assert project.import_records(rows) == {"count": 1}
    assert project.import_records([{"record_id": "8"}, {"record_id": "9"}],
                                  return_content="ids") == ["8", "9"]
    assert project.import_records([{"record_id": "10"}], return_content="nothing") == [{}]
    df = pd.DataFrame([{"record_id": "11"}, {"record_id": "12"}])
    assert project.import_records(df, import_format="df", return_format_type="csv") == "2"
    assert project.import_records(df, import_format="df", return_format_type="xml") == (
        '<?xml version="1.0" encoding="UTF-8" ?><count>2</count>')


def test_fields_backfill_accepts_complete_checkbox_and_descriptive_names(project):
    seed_two(project)
    rows = project.export_records(fields=["adverse_events_complete", "intro", "ec_mets", "age"])
    assert list(rows[0]) == ["record_id", "redcap_repeat_instrument", "redcap_repeat_instance",
                             "age", "ec_mets___1", "ec_mets___2", "ec_mets____99",
                             "adverse_events_complete"]


def test_forms_only_export_orders_complete_columns_by_metadata(project):
    seed_two(project)
    df = project.export_records(format_type="df", forms=["adverse_events", "enrolment"])
    complete_cols = [c for c in df.columns if c.endswith("_complete")]
    assert complete_cols == ["enrolment_complete", "adverse_events_complete"]
    assert df.index.name == "record_id"


def _message(exc: pytest.ExceptionInfo) -> str:
    return exc.value.args[0]["error"]


def test_unknown_fields_and_forms_are_errors_with_redcap_wording(project):
    with pytest.raises(redcap.RedcapError) as err:
        project.export_records(fields=["nope"])
    assert _message(err) == "The following values in the parameter \"fields\" are not valid: 'nope'"
    with pytest.raises(redcap.RedcapError) as err:
        project.export_records(forms=["x"])
    assert _message(err) == "The following values in the parameter \"forms\" are not valid: 'x'"


def test_eav_export_has_one_row_per_stored_value_and_checked_codes(project):
    seed_two(project)
    rows = project.export_records(record_type="eav", records=["1"])
    ec = sorted(r["value"] for r in rows if r["field_name"] == "ec_mets")
    assert ec == ["-99", "1"]
    assert {r["field_name"] for r in rows if r["redcap_repeat_instance"] == 2} >= {
        "ae_term", "ae_grade"}
    assert not any(r["field_name"] == "ec_mets___2" for r in rows)


def test_label_export_and_label_headers(project):
    seed_two(project)
    rows = project.export_records(raw_or_label="label", records=["1"])
    assert rows[0]["eligible"] == "Yes" and rows[0]["subtype"] == "TNBC"
    assert rows[0]["ec_mets___1"] == "Checked" and rows[0]["ec_mets___2"] == "Unchecked"
    assert rows[1]["redcap_repeat_instrument"] == "Adverse events"
    assert rows[1]["ae_term"] == "Nausea"
    boxes = project.export_records(raw_or_label="label", records=["1"],
                                   export_checkbox_labels=True)
    assert boxes[0]["ec_mets___1"] == "Liver" and boxes[0]["ec_mets___2"] == ""
    text = project.export_records(format_type="csv", raw_or_label_headers="label")
    # PHP's fputcsv encloses headers holding a space (KPS and Eligible stay bare)
    assert text.startswith('"Record ID","Repeat Instrument","Repeat Instance","Enrolment date",'
                           '"Age at enrolment",KPS,"Contact e-mail",Eligible,')
    assert "Extracranial metastases (choice=Liver)" in text


def test_overwrite_blanks_only_fields_present_normal_ignores_blanks(project):
    seed_two(project)
    project.import_records([{"record_id": "1", "age": ""}])
    assert project.export_records(records=["1"], fields=["age"])[0]["age"] == "55"
    project.import_records([{"record_id": "1", "age": "", "ec_mets___1": ""}],
                           overwrite="overwrite")
    row = project.export_records(records=["1"])[0]
    assert row["age"] == "" and row["ec_mets___1"] == "0"
    assert row["enrol_date"] == "2024-09-01" and row["ec_mets____99"] == "1"


def test_field_validation_errors_are_csv_lines_in_one_message(project):
    with pytest.raises(redcap.RedcapError) as err:
        project.import_records([{"record_id": "3", "age": "x", "enrol_date": "2024-13-01",
                                 "eligible": "7", "ec_mets___1": "2", "email": "nope",
                                 "kps": "150"}])
    message = err.value.args[0]["error"]
    lines = message.split("\n")
    assert len(lines) == 6
    assert '"3","enrol_date","2024-13-01","Invalid date format. (NOTE: Dates must be imported ' \
        'here only in Y-M-D format, regardless of the specific date format designated for ' \
        'this field.)"' in lines
    assert '"3","age","x","The value of age must be an integer."' in lines
    assert '"3","kps","150","kps should not be greater than the field maximum (100)"' in lines
    assert '"3","eligible","7","The value is not a valid category for eligible"' in lines
    assert any(ln.startswith('"3","ec_mets___1","2","ec_mets is a checkbox field') for ln in lines)
    assert '"3","email","nope","Email address is not properly formatted."' in lines
    assert project.export_records(records=["3"]) == []


def test_soft_range_is_not_an_error(project):
    assert project.import_records([{"record_id": "4", "age": "130"}]) == {"count": 1}


def test_unknown_field_and_missing_record_id_are_record_level_errors(project):
    with pytest.raises(redcap.RedcapError, match="not found in the project as real data "
                                                 "fields: bogus"):
        project.import_records([{"record_id": "1", "bogus": "1"}])
    with pytest.raises(redcap.RedcapError, match=r"The record id field \(record_id\) is missing"):
        project.import_records([{"age": "50"}])


def test_date_format_dmy_is_converted(project):
    project.import_records([{"record_id": "5", "enrol_date": "3/2/2025"}], date_format="DMY")
    assert project.export_records(records=["5"])[0]["enrol_date"] == "2025-02-03"


def test_force_auto_number_returns_new_and_old_ids(project):
    seed_two(project)
    got = project.import_records([{"record_id": "x1"}, {"record_id": "x2"}],
                                 force_auto_number=True, return_content="auto_ids")
    assert got == ["3,x1", "4,x2"]
    assert project.generate_next_record_name() == "5"


def test_new_instance_appends_after_the_last(project):
    seed_two(project)
    project.import_records([{"record_id": "1", "redcap_repeat_instrument": "adverse_events",
                             "redcap_repeat_instance": "new", "ae_term": "2"}])
    rows = project.export_records(records=["1"], forms=["adverse_events"])
    assert [r["redcap_repeat_instance"] for r in rows if r["redcap_repeat_instrument"]] == [1, 2, 3]


def test_delete_counts_records_and_checks_existence(project):
    seed_two(project)
    with pytest.raises(redcap.RedcapError, match="The following records do not exist: 5, 6"):
        project.delete_records(["1", "5", "6"])
    assert project.delete_records(["1"], instrument="adverse_events", repeat_instance=2) == 1
    rows = project.export_records(records=["1"])
    assert [r["redcap_repeat_instance"] for r in rows] == ["", 1]
    assert project.delete_records(["1", "2"]) == 2
    assert project.export_records() == []


def test_filter_logic_keeps_matching_records(project):
    seed_two(project)
    rows = project.export_records(filter_logic="[age] > 50")
    assert {r["record_id"] for r in rows} == {"1"}
    rows = project.export_records(filter_logic="[ec_mets(-99)] = '1' and [eligible] = '1'")
    assert {r["record_id"] for r in rows} == {"1"}
    assert project.export_records(filter_logic="[eligible] = '1' and [age] < 18") == []


def test_date_range_uses_modification_time(project):
    seed_two(project)
    assert len(project.export_records(date_begin=pd.Timestamp("2000-01-01"))) == 4
    assert project.export_records(date_end=pd.Timestamp("2000-01-01")) == []


def test_dag_column_and_dag_scoped_user(project, sandbox):
    seed_two(project)
    rows = project.export_records(export_data_access_groups=True)
    assert {r["record_id"]: r["redcap_data_access_group"] for r in rows} == {
        "1": "", "2": "site_b"}
    project.import_user_dag_assignment([{"username": "sandbox_admin",
                                         "redcap_data_access_group": "site_b"}])
    rows = project.export_records(export_data_access_groups=True)
    assert {r["record_id"] for r in rows} == {"2"}
    assert "redcap_data_access_group" not in rows[0]  # a DAG user never sees the column
    assert project.generate_next_record_name() == "2-1"


def test_a_dag_user_cannot_import_into_another_dags_record(project, sandbox, token):
    """Record 2 belongs to site_b; a user in site_a may neither change it (REDCap's
    refusal, nothing written) nor see it, but may create records of their own."""
    import redcap

    seed_two(project)
    project.import_user_dag_assignment([{"username": "sandbox_admin",
                                         "redcap_data_access_group": "site_a"}])
    with pytest.raises(redcap.RedcapError, match="belong to a Data Access Group you are not "
                                                 "in: 2"):
        project.import_records([{"record_id": "2", "age": "77"},
                                {"record_id": "3", "age": "30"}])
    assert project.import_records([{"record_id": "3", "age": "30"}]) == {"count": 1}
    assert {r["record_id"]: r["age"] for r in project.export_records(fields=["age"])} == {
        "3": "30"}
    stored = sandbox.store.read_rows(sandbox.store.token_owner(token)[0])
    assert stored[("2", "", "", 0)]["age"] == "41"  # the refused import wrote nothing
    assert ("3", "", "", 0) in stored


def test_dataframe_round_trip_reimports(project):
    seed_two(project)
    df = project.export_records(format_type="df", df_kwargs={"sep": ","}).convert_dtypes()
    assert project.import_records(df, import_format="df") == {"count": 2}


def test_records_filter_and_array_and_comma_forms(project, sandbox, token):
    seed_two(project)
    assert {r["record_id"] for r in project.export_records(records=["2"])} == {"2"}
    body = f"token={token}&content=record&format=csv&records=1,2&fields=age"
    status, _, data = sandbox.handle(body)
    assert status == 200
    # no adverse-event column was asked for, so no repeating rows
    assert pd.read_csv(io.StringIO(data.decode()))["record_id"].tolist() == [1, 2]


def test_natural_record_order(project):
    project.import_records([{"record_id": r} for r in ("10", "9", "b", "a", "100")])
    assert [r["record_id"] for r in project.export_records()] == ["9", "10", "100", "a", "b"]


def test_import_json_xml_csv_formats(project):
    assert project.import_records("record_id,age\n20,33\n", import_format="csv") == {"count": 1}
    xml = ('<?xml version="1.0" encoding="UTF-8" ?><records><item><record_id>21</record_id>'
           "<age>44</age></item></records>")
    assert project.import_records(xml, import_format="xml") == {"count": 1}
    ages = {r["record_id"]: r["age"] for r in project.export_records(fields=["age"])}
    assert ages["20"] == "33" and ages["21"] == "44"


def test_json_export_reimports_with_integer_instances(project):
    seed_two(project)
    before = project.export_records()
    assert any(r["redcap_repeat_instance"] == 2 for r in before)
    assert project.import_records(before) == {"count": 2}  # calc column ignored, not refused
    assert project.export_records() == before


def test_study_dictionary_columns_match_the_dictionary_package(tmp_path):
    from pathlib import Path

    from sgbm_redcap.dictionary.project import load_project
    from sgbm_redcap.sandbox import Sandbox

    root = Path(__file__).resolve().parents[1] / "redcap_project"
    study = load_project(root)
    sb = Sandbox(tmp_path / "study")
    study_token = sb.create_project(root / "data_dictionary.csv",
                                    repeating_forms=study.repeating_forms, dags=list(study.dags))
    from urllib.parse import urlencode

    status, _, body = sb.handle(urlencode({"token": study_token, "content": "record",
                                           "format": "csv"}))
    assert status == 200
    header = body.decode().split("\n")[0].split(",")
    assert header[:3] == ["record_id", "redcap_repeat_instrument", "redcap_repeat_instance"]
    assert header[3:] == [c for c in study.dictionary.export_columns() if c != "record_id"]


def test_csv_export_quotes_like_the_csv_module(project, sandbox, token):
    seed_two(project)
    project.import_records([{"record_id": "1", "redcap_repeat_instrument": "adverse_events",
                             "redcap_repeat_instance": "2",
                             "ae_comment": 'said "ouch", twice\nthen slept'}])
    rows = project.export_records(export_data_access_groups=True)
    header = list(rows[0])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[str(r[c]) for c in header] for r in rows])
    assert project.export_records(format_type="csv", export_data_access_groups=True) == \
        buf.getvalue()
    from urllib.parse import urlencode

    status, _, body = sandbox.handle(urlencode({"token": token, "content": "record",
                                                "format": "csv", "csvDelimiter": ";"}))
    expected = io.StringIO()
    csv.writer(expected, delimiter=";", lineterminator="\n").writerows(
        csv.reader(io.StringIO(project.export_records(format_type="csv"))))
    assert status == 200 and body.decode() == expected.getvalue()


def test_json_numbers_and_booleans_are_values_not_blanks(project):
    project.import_records([{"record_id": 30, "eligible": 0, "age": 40.0, "kps": 90},
                            {"record_id": 31, "eligible": False}])
    rows = {r["record_id"]: r for r in project.export_records(fields=["eligible", "age", "kps"])}
    assert (rows["30"]["eligible"], rows["30"]["age"], rows["30"]["kps"]) == ("0", "40", "90")
    assert rows["31"]["eligible"] == "0"


def test_malformed_csv_data_is_a_400_that_says_why(sandbox, token):
    """A CSV the csv module cannot read (a bare carriage return inside an unquoted field) is
    REDCap's 400 "not formatted correctly", not a server error."""
    from urllib.parse import urlencode

    status, _, body = sandbox.handle(urlencode({
        "token": token, "content": "record", "format": "csv", "returnFormat": "json",
        "data": "record_id,age\n\r1,2\n"}).encode())
    assert status == 400
    assert "not formatted correctly" in json.loads(body)["error"]
