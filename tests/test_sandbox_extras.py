"""Files, file repository, PDF, surveys, reports and the data_quality_api module endpoints."""

from __future__ import annotations

import io
import json

import pytest
import redcap
import requests
from sandbox_fixtures import *  # noqa: F403  (the shared fixtures)
from sandbox_fixtures import CORPUS, seed_two


def test_file_field_upload_download_delete(project):
    seed_two(project)
    project.import_file("1", "consent_doc", "consent.txt", io.BytesIO(b"signed\n"))
    content, headers = project.export_file("1", "consent_doc")
    assert content == b"signed\n"
    assert headers == {"name": "consent.txt", "charset": "UTF-8"}
    assert project.export_records(records=["1"])[0]["consent_doc"] == "consent.txt"
    project.delete_file("1", "consent_doc")
    with pytest.raises(redcap.RedcapError, match="There is no file to download"):
        project.export_file("1", "consent_doc")


def test_file_upload_needs_an_existing_record(project, sandbox, token, api):
    got = requests.post(api, data={"token": token, "content": "file", "action": "import",
                                   "record": "99", "field": "consent_doc"},
                        files={"file": ("x.txt", b"x")}, timeout=5)
    assert got.status_code == 400
    assert "The record '99' does not exist. It must exist to upload a file" in got.text


def test_file_repository_folders_and_files(project):
    folder = project.create_folder_in_repository("Monitoring")
    assert folder[0]["folder_id"] > 0
    project.import_file_into_repository("plan.txt", io.BytesIO(b"monitoring plan"))
    listing = project.export_file_repository()
    doc = next(x for x in listing if x.get("name") == "plan.txt")
    assert any(x.get("folder_id") == folder[0]["folder_id"] for x in listing)
    content, headers = project.export_file_from_repository(doc["doc_id"])
    assert content == b"monitoring plan" and headers["name"] == "plan.txt"
    project.delete_file_from_repository(doc["doc_id"])
    assert not any(x.get("name") == "plan.txt" for x in project.export_file_repository())


def test_pdf_is_a_pdf(project):
    content, headers = project.export_pdf()
    assert content.startswith(b"%PDF-") and content.rstrip().endswith(b"%%EOF")
    from pypdf import PdfReader

    assert len(PdfReader(io.BytesIO(content)).pages) == 1


@pytest.fixture
def survey_project(sandbox, api) -> redcap.Project:
    odm = (CORPUS / "api_fixtures" / "193_redcap-tools_PyCap_test_long_project.xml").read_text()
    sandbox.set_public_url("https://redcapdemo.vumc.org/")
    got = requests.post(api, data={
        "token": sandbox.create_super_token(), "content": "project", "format": "xml",
        "odm": odm, "data": "<item><project_title>S</project_title><purpose>0</purpose></item>"},
        timeout=10)
    return redcap.Project(api, got.text[-32:])


def test_survey_links_and_codes(survey_project):
    p = survey_project
    link = p.export_survey_link("1", "contact_info", event="enrollment_arm_1")
    assert link.startswith("https://redcapdemo.vumc.org/surveys/?s=")
    assert p.export_survey_queue_link("1").startswith("https://redcapdemo.vumc.org/surveys/?sq=")
    assert len(p.export_survey_access_code("1", "contact_info", event="enrollment_arm_1")) == 9
    assert len(p.export_survey_return_code("1", "contact_info", event="enrollment_arm_1")) == 8
    with pytest.raises(redcap.RedcapError, match="has not been enabled as a survey"):
        p.export_survey_link("1", "demographics", event="enrollment_arm_1")
    df = p.export_survey_participant_list("contact_info", format_type="df",
                                          event="enrollment_arm_1")
    assert "email" in df.columns and len(df) >= 1


def test_stored_report_runs_its_fields_and_filter(project, sandbox, token):
    seed_two(project)
    sandbox.add_report(token, "7", fields=["age"], filter_logic="[eligible] = '1'")
    rows = project.export_report("7")
    assert rows == [{"record_id": "1", "redcap_repeat_instrument": "",
                     "redcap_repeat_instance": "", "age": "55"}]
    with pytest.raises(redcap.RedcapError, match="report_id"):
        project.export_report("8")


def _dq(api: str, token: str, page: str, prefix: str = "vanderbilt_dataQuality", **data):
    url = f"{api}?prefix={prefix}&page={page}&type=module&NOAUTH"
    return requests.post(url, data={"token": token, "format": "json", "returnFormat": "json",
                                    **data}, timeout=5)


def test_data_quality_module_import_then_export(project, token, api):
    seed_two(project)
    payload = [{"record": "1", "field_name": "age", "comment": "Age looks wrong",
                "username": "dm", "ts": "2026-01-02 10:00:00", "current_query_status": "OPEN",
                "response_requested": 1}]
    got = _dq(api, token, "import", data=json.dumps(payload))
    assert got.status_code == 200 and got.json() == [1]
    assert _dq(api, token, "import", data=json.dumps(payload)).json() == []  # duplicate ts+user
    reply = [dict(payload[0], comment="Confirmed", username="site", ts="2026-01-03 09:00:00",
                  response="CONFIRMED_CORRECT", current_query_status="CLOSED")]
    assert _dq(api, token, "import", data=json.dumps(reply)).json() == [2]
    exported = _dq(api, token, "export").json()
    (status,) = exported.values()
    assert status["record"] == "1" and status["field_name"] == "age"
    assert status["query_status"] == "CLOSED"
    assert [r["comment"] for r in status["resolutions"].values()] == ["Age looks wrong",
                                                                      "Confirmed"]
    assert _dq(api, token, "export", status="OPEN").json() == {}


def test_data_quality_module_wrong_prefix_says_enable_it(project, token, api):
    got = _dq(api, token, "export", prefix="other_module")
    assert got.status_code == 400
    assert got.json() == {"error": "Make sure the Data Quality API module is enabled in your "
                                   "project."}
