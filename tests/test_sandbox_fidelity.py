"""The sandbox answers as a real REDCap server does where PyCap 2.7.0's integration suite and
its doctests (outputs recorded against real servers) showed it did not; docs/sandbox.md
("Evidence") says where each expectation comes from."""

from __future__ import annotations

import csv
import io
import json
from urllib.parse import urlencode

import pytest
from sandbox_fixtures import *  # noqa: F403  (the shared fixtures)

from sgbm_redcap.sandbox import Sandbox

# a two-arm longitudinal project with a calc and a survey, as Project XML with ClinicalData
ODM = """<?xml version="1.0" encoding="UTF-8" ?>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" xmlns:redcap="https://projectredcap.org"
     ODMVersion="1.3.1" FileOID="f" FileType="Snapshot">
<Study OID="Project.Fid">
<GlobalVariables><StudyName>Fidelity</StudyName><StudyDescription>x</StudyDescription>
<ProtocolName>Fidelity</ProtocolName>
<redcap:RecordAutonumberingEnabled>0</redcap:RecordAutonumberingEnabled>
<redcap:SurveysEnabled>1</redcap:SurveysEnabled>
<redcap:SurveysGroup><redcap:Surveys form_name="contact" title="Contact"/></redcap:SurveysGroup>
</GlobalVariables>
<MetaDataVersion OID="Metadata.Fid" Name="Fidelity" redcap:RecordIdField="rid">
<Protocol>
<StudyEventRef StudyEventOID="Event.visit_arm_1" OrderNumber="1" Mandatory="No"/>
<StudyEventRef StudyEventOID="Event.visit_arm_2" OrderNumber="2" Mandatory="No"/>
</Protocol>
<StudyEventDef OID="Event.visit_arm_1" Name="Visit (Arm 1: A)" Type="Common" Repeating="No"
  redcap:EventName="Week 1" redcap:UniqueEventName="visit_arm_1" redcap:ArmNum="1"
  redcap:ArmName="A" redcap:DayOffset="0" redcap:OffsetMin="0" redcap:OffsetMax="0">
<FormRef FormOID="Form.contact" OrderNumber="1" Mandatory="No" redcap:FormName="contact"/>
</StudyEventDef>
<StudyEventDef OID="Event.visit_arm_2" Name="Visit (Arm 2: B)" Type="Common" Repeating="No"
  redcap:EventName="Week 1" redcap:UniqueEventName="visit_arm_2" redcap:ArmNum="2"
  redcap:ArmName="B" redcap:DayOffset="0" redcap:OffsetMin="0" redcap:OffsetMax="0">
<FormRef FormOID="Form.contact" OrderNumber="1" Mandatory="No" redcap:FormName="contact"/>
</StudyEventDef>
<FormDef OID="Form.contact" Name="Contact" Repeating="No" redcap:FormName="contact">
<ItemGroupRef ItemGroupOID="contact.rid" Mandatory="No"/>
</FormDef>
<ItemGroupDef OID="contact.rid" Name="Contact" Repeating="No">
<ItemRef ItemOID="rid" Mandatory="No" redcap:Variable="rid"/>
<ItemRef ItemOID="weight" Mandatory="No" redcap:Variable="weight"/>
<ItemRef ItemOID="double_weight" Mandatory="No" redcap:Variable="double_weight"/>
<ItemRef ItemOID="contact_complete" Mandatory="No" redcap:Variable="contact_complete"/>
</ItemGroupDef>
<ItemDef OID="rid" Name="rid" DataType="text" Length="999" redcap:Variable="rid"
  redcap:FieldType="text"><Question><TranslatedText>Record</TranslatedText></Question></ItemDef>
<ItemDef OID="weight" Name="weight" DataType="float" Length="999" redcap:Variable="weight"
  redcap:FieldType="text" redcap:TextValidationType="float">
  <Question><TranslatedText>Weight</TranslatedText></Question></ItemDef>
<ItemDef OID="double_weight" Name="double_weight" DataType="float" Length="999"
  redcap:Variable="double_weight" redcap:FieldType="calc" redcap:Calculation="[weight]*2">
  <Question><TranslatedText>Twice</TranslatedText></Question></ItemDef>
<ItemDef OID="contact_complete" Name="contact_complete" DataType="text" Length="1"
  redcap:Variable="contact_complete" redcap:FieldType="select">
  <Question><TranslatedText>Complete?</TranslatedText></Question>
  <CodeListRef CodeListOID="contact_complete.choices"/></ItemDef>
<CodeList OID="contact_complete.choices" Name="contact_complete" DataType="text"
  redcap:Variable="contact_complete">
<CodeListItem CodedValue="0"><Decode><TranslatedText>Incomplete</TranslatedText></Decode>
</CodeListItem>
<CodeListItem CodedValue="2"><Decode><TranslatedText>Complete</TranslatedText></Decode>
</CodeListItem>
</CodeList>
</MetaDataVersion>
</Study>
<ClinicalData StudyOID="Project.Fid" MetaDataVersionOID="Metadata.Fid">
<SubjectData SubjectKey="1" redcap:RecordIdField="rid">
<StudyEventData StudyEventOID="Event.visit_arm_1" StudyEventRepeatKey="1"
  redcap:UniqueEventName="visit_arm_1">
<FormData FormOID="Form.contact" FormRepeatKey="1"><ItemGroupData ItemGroupOID="contact.rid">
<ItemData ItemOID="rid" Value="1"/><ItemData ItemOID="weight" Value="40"/>
<ItemData ItemOID="double_weight" Value="7"/><ItemData ItemOID="contact_complete" Value="2"/>
</ItemGroupData></FormData></StudyEventData></SubjectData>
<SubjectData SubjectKey="2" redcap:RecordIdField="rid">
<StudyEventData StudyEventOID="Event.visit_arm_2" StudyEventRepeatKey="1"
  redcap:UniqueEventName="visit_arm_2">
<FormData FormOID="Form.contact" FormRepeatKey="1"><ItemGroupData ItemGroupOID="contact.rid">
<ItemData ItemOID="rid" Value="2"/><ItemData ItemOID="weight" Value="50"/>
<ItemData ItemOID="contact_complete" Value="0"/>
</ItemGroupData></FormData></StudyEventData></SubjectData>
</ClinicalData>
</ODM>
"""


def call(sb: Sandbox, token: str, **params: str) -> tuple[int, str, str]:
    status, headers, body = sb.handle(urlencode({"token": token, **params}).encode())
    return status, headers["Content-Type"], body.decode()


def export(sb: Sandbox, token: str, **params: str) -> list[dict]:
    status, _, body = call(sb, token, format="json", **params)
    assert status == 200, body
    return json.loads(body)


@pytest.fixture
def xml_token(sandbox: Sandbox) -> str:
    return sandbox.create_project_from_odm(ODM)


# ---------------------------------------------------------------- surveys


def test_participant_list_holds_only_the_records_of_the_events_arm(sandbox, xml_token):
    def records(event: str) -> list[str]:
        return [r["record"] for r in export(sandbox, xml_token, content="participantList",
                                            instrument="contact", event=event)]

    assert records("visit_arm_1") == ["1"]
    assert records("visit_arm_2") == ["2"]


def test_participant_list_refuses_an_event_that_does_not_exist(sandbox, xml_token):
    status, _, body = call(sandbox, xml_token, content="participantList", format="json",
                           instrument="contact", event="no_such_event_arm_1")
    assert status == 400 and "event" in json.loads(body)["error"]


# ---------------------------------------------------------------- calcs


def test_project_xml_creation_stores_no_calc_values(sandbox, xml_token):
    eav = export(sandbox, xml_token, content="record", type="eav")
    assert "double_weight" not in {r["field_name"] for r in eav}
    # record 1's XML held double_weight = 7: it is neither kept nor recomputed
    assert len(eav) == 6  # rid, weight, contact_complete for two records


def test_a_calc_is_computed_when_the_record_is_next_saved(sandbox, xml_token):
    status, _, body = call(sandbox, xml_token, content="record", action="import", format="json",
                           data=json.dumps([{"rid": "1", "redcap_event_name": "visit_arm_1",
                                             "weight": "41"}]))
    assert status == 200, body
    rows = export(sandbox, xml_token, content="record", fields="rid,double_weight")
    by_record = {r["rid"]: r["double_weight"] for r in rows}
    assert by_record == {"1": "82", "2": ""}


# ---------------------------------------------------------------- users, roles, DAGs


def _add_users(sandbox: Sandbox, token: str, names: list[str]) -> None:
    status, _, body = call(sandbox, token, content="user", action="import", format="json",
                           data=json.dumps([{"username": n} for n in names]))
    assert status == 200, body


def test_user_lists_are_sorted_by_username(sandbox, token):
    # the creator is sandbox_admin; REDCap lists users by username, not in the order added
    _add_users(sandbox, token, ["zoe", "Bob", "alice"])
    expected = ["alice", "Bob", "sandbox_admin", "zoe"]
    for content in ("user", "userDagMapping", "userRoleMapping"):
        assert [r["username"] for r in export(sandbox, token, content=content)] == expected


def test_deleting_users_answers_a_bare_count_in_every_format(sandbox, token):
    for fmt in ("xml", "json", "csv"):
        _add_users(sandbox, token, ["u1", "u2"])
        status, _, body = call(sandbox, token, content="user", action="delete",
                               returnFormat=fmt, **{"users[0]": "u1", "users[1]": "u2"})
        assert (status, body) == (200, "2")


def test_role_export_sends_rights_as_strings_in_redcaps_order(sandbox, token):
    status, _, body = call(sandbox, token, content="userRole", action="import", format="json",
                           data=json.dumps([{"role_label": "Monitor", "design": 0,
                                             "reports": 1, "forms": {"enrolment": 2}}]))
    assert status == 200, body
    (role,) = export(sandbox, token, content="userRole")
    keys = list(role)
    assert keys[:4] == ["unique_role_name", "role_label", "design", "alerts"]
    assert keys[-5:] == ["lock_records_customization", "lock_records", "lock_records_all_forms",
                         "forms", "forms_export"]
    assert role["reports"] == "1" and role["design"] == "0" and role["api_export"] == "0"
    assert all(isinstance(role[k], str) for k in keys[2:-2])
    assert role["forms"] == {"enrolment": 2, "adverse_events": 0}
    assert role["forms_export"] == {"enrolment": 0, "adverse_events": 0}


# ---------------------------------------------------------------- files


def test_pdf_starts_as_redcaps_pdfs_do(sandbox, token):
    status, headers, body = sandbox.handle(urlencode({"token": token, "content": "pdf"}).encode())
    assert status == 200 and headers["Content-Type"].startswith("application/pdf")
    assert body.startswith(b"%PDF-1.3\n3 0 obj\n")
    assert body.rstrip().endswith(b"%%EOF")


def test_the_pdf_cross_reference_table_points_at_its_objects(sandbox, token):
    _, _, body = sandbox.handle(urlencode({"token": token, "content": "pdf"}).encode())
    xref = int(body.rsplit(b"startxref\n", 1)[1].split()[0])
    lines = body[xref:].split(b"\n")
    assert lines[0] == b"xref"
    count = int(lines[1].split()[1])
    for num in range(1, count):
        offset = int(lines[2 + num].split()[0])
        assert body[offset:].startswith(f"{num} 0 obj\n".encode())



def test_user_export_has_redcaps_keys_in_redcaps_order(sandbox, token):
    (creator,) = export(sandbox, token, content="user")
    assert list(creator) == [
        "username", "email", "firstname", "lastname", "expiration", "data_access_group",
        "data_access_group_id", "data_access_group_label", "design", "alerts", "user_rights",
        "data_access_groups", "reports", "stats_and_charts", "manage_survey_participants",
        "calendar", "data_import_tool", "data_comparison_tool", "logging", "email_logging",
        "file_repository", "data_quality_create", "data_quality_execute", "api_export",
        "api_import", "api_modules", "mobile_app", "mobile_app_download_data", "record_create",
        "record_rename", "record_delete", "lock_records_all_forms", "lock_records",
        "lock_records_customization", "forms", "forms_export"]
    # a creator has every right but these three, and full access to every form
    without = {k for k in list(creator)[8:-2] if creator[k] != 1}
    assert without == {"email_logging", "mobile_app_download_data", "lock_records_customization"}
    assert creator["forms"] == {"enrolment": 1, "adverse_events": 1}


def test_user_export_names_the_users_dag(sandbox, token):
    status, _, body = call(sandbox, token, content="userDagMapping", action="import",
                           format="json", data=json.dumps([
                               {"username": "sandbox_admin", "redcap_data_access_group": "site_b"}]))
    assert status == 200, body
    (creator,) = export(sandbox, token, content="user")
    assert (creator["data_access_group"], creator["data_access_group_label"]) == (
        "site_b", "Site B")
    assert isinstance(creator["data_access_group_id"], int)


# ---------------------------------------------------------------- CSV and labels


def test_csv_cells_with_a_space_are_quoted_as_redcap_quotes_them(sandbox, token):
    status, _, body = call(sandbox, token, content="record", action="import", format="json",
                           data=json.dumps([{"record_id": "1", "enrol_date": "2024-09-01",
                                             "email": "a@b.org", "age": "55"}]))
    assert status == 200, body
    status, _, csv_body = call(sandbox, token, content="record", format="csv",
                               fields="record_id,age,email", rawOrLabelHeaders="label")
    assert status == 200
    header, row = csv_body.splitlines()[:2]
    # PHP's fputcsv encloses every cell holding a space; others stay bare
    assert header == ('"Record ID","Repeat Instrument","Repeat Instance","Age at enrolment",'
                      '"Contact e-mail"')
    assert row == "1,,,55,a@b.org"
    status, _, meta_csv = call(sandbox, token, content="metadata", format="csv")
    assert '"Enrolment date"' in meta_csv and ",Enrolment date," not in meta_csv


def _label_csv(sb: Sandbox, token: str) -> list[str]:
    status, _, body = call(sb, token, content="record", format="csv", rawOrLabel="label",
                           fields="rid")
    assert status == 200, body
    return body.splitlines()


def test_event_labels_carry_the_arm_only_when_more_than_one_arm_has_events(sandbox, xml_token):
    assert _label_csv(sandbox, xml_token)[1:] == ['1,"Week 1 (Arm 1: A)"',
                                                  '2,"Week 1 (Arm 2: B)"']
    status, _, body = call(sandbox, xml_token, content="event", action="delete",
                           **{"events[0]": "visit_arm_2"})
    assert status == 200, body
    # arm 2 is still there, without events: one arm has events, so no suffix
    assert _label_csv(sandbox, xml_token)[1:] == ['1,"Week 1"']


# ---------------------------------------------------------------- file fields


def test_a_file_field_exports_the_files_name(sandbox, token):
    status, _, body = call(sandbox, token, content="record", action="import", format="json",
                           data=json.dumps([{"record_id": "1", "age": "55"}]))
    assert status == 200, body
    status, _, body = sandbox.handle(
        b"--B\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\n" + token.encode()
        + b"\r\n--B\r\nContent-Disposition: form-data; name=\"content\"\r\n\r\nfile\r\n"
        b"--B\r\nContent-Disposition: form-data; name=\"action\"\r\n\r\nimport\r\n"
        b"--B\r\nContent-Disposition: form-data; name=\"record\"\r\n\r\n1\r\n"
        b"--B\r\nContent-Disposition: form-data; name=\"field\"\r\n\r\nconsent_doc\r\n"
        b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"signed form.pdf\"\r\n"
        b"Content-Type: application/pdf\r\n\r\n%PDF\r\n--B--\r\n",
        "multipart/form-data; boundary=B")
    assert status == 200, body
    (flat,) = export(sandbox, token, content="record", fields="record_id,consent_doc")
    assert flat["consent_doc"] == "signed form.pdf"
    _, _, csv_body = call(sandbox, token, content="record", format="csv",
                          fields="record_id,consent_doc")
    assert csv_body.splitlines()[1].endswith(',"signed form.pdf"')
    eav = export(sandbox, token, content="record", type="eav", fields="consent_doc")
    assert [r["value"] for r in eav if r["field_name"] == "consent_doc"] == ["signed form.pdf"]


# ---------------------------------------------------------------- the log


def test_api_project_creation_is_logged_after_the_xml_records(sandbox):
    super_token = sandbox.create_super_token()
    status, _, token = call(sandbox, super_token, content="project", format="json",
                            data=json.dumps([{"project_title": "Fid", "purpose": 0}]), odm=ODM)
    assert status == 200 and len(token) == 32
    log = export(sandbox, token, content="log")  # newest first
    details = [(e["action"], e["details"]) for e in log]
    creation = details.index(("Manage/Design ", "Create project (API)"))
    assert [a for a, _ in details[creation + 1:]] == ["Create record (API) 2",
                                                      "Create record (API) 1"]
    manage = export(sandbox, token, content="log", logtype="manage")
    assert manage[-1]["details"] == "Create project (API)"


def test_api_project_creation_without_xml_is_logged_as_an_api_creation(sandbox):
    super_token = sandbox.create_super_token()
    status, _, token = call(sandbox, super_token, content="project", format="json",
                            data=json.dumps([{"project_title": "Fid", "purpose": 0}]))
    assert status == 200
    assert [e["details"] for e in export(sandbox, token, content="log")] == [
        "Create project (API)"]


def test_csv_user_and_role_exports_write_form_levels_as_redcap_does(sandbox, token):
    status, _, body = call(sandbox, token, content="userRole", action="import", format="json",
                           data=json.dumps([{"role_label": "Monitor", "forms": {"enrolment": 2}}]))
    assert status == 200, body
    for content, forms in (("user", "enrolment:1,adverse_events:1"),
                           ("userRole", "enrolment:2,adverse_events:0")):
        status, _, text = call(sandbox, token, content=content, format="csv")
        assert status == 200
        rows = list(csv.DictReader(io.StringIO(text)))
        assert rows[0]["forms"] == forms
    # and such a CSV imports back unchanged
    status, _, body = call(sandbox, token, content="user", action="import", format="csv",
                           data=call(sandbox, token, content="user", format="csv")[2])
    assert (status, body) == (200, "1")
    (creator,) = export(sandbox, token, content="user")
    assert creator["forms"] == {"enrolment": 1, "adverse_events": 1}
