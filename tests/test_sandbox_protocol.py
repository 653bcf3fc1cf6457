"""Wire-level behaviours: tokens, envelopes, status codes, format rules (REDCAP_API.md §4.1,
§4.2, §8), checked on raw requests and through PyCap."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
import redcap
import requests
from sandbox_fixtures import *  # noqa: F403  (the shared fixtures)
from sandbox_fixtures import CORPUS, seed_two

from sgbm_redcap.sandbox import serve_in_thread

NO_PERM = "You do not have permissions to use the API"


def call(sb, **params) -> tuple[int, str, str]:
    status, headers, body = sb.handle(urlencode(params, doseq=True))
    return status, headers["Content-Type"], body.decode()


@pytest.mark.parametrize(("fmt", "expected"), [
    ({"format": "json"}, json.dumps({"error": NO_PERM})),
    ({"format": "csv"}, f"ERROR: {NO_PERM}"),
    ({"format": "json", "returnFormat": "csv"}, f"ERROR: {NO_PERM}"),
    ({}, f'<?xml version="1.0" encoding="UTF-8" ?><hash><error>{NO_PERM}</error></hash>'),
    ({"format": "weird"}, f'<?xml version="1.0" encoding="UTF-8" ?><hash><error>{NO_PERM}'
                          "</error></hash>"),
])
def test_unknown_token_is_403_in_the_return_format_envelope(sandbox, token, fmt, expected):
    status, _, body = call(sandbox, token="0" * 32, content="record", **fmt)
    assert (status, body) == (403, expected)


def test_token_shape_checks(sandbox, token):
    assert call(sandbox, token="", content="version")[0] == 403
    assert call(sandbox, token="ab-cd", content="version")[0] == 403
    assert call(sandbox, token=token.lower(), content="version")[0] == 403
    assert call(sandbox, token=token, content="version")[:1] == (200,)
    assert len(token) == 32 and token == token.upper()
    int(token, 16)


def test_pycap_with_a_bad_token_raises_redcap_error(api, sandbox, token):
    bad = redcap.Project(api, "F" * 32)
    with pytest.raises(redcap.RedcapError, match=NO_PERM):
        bad.export_records()


def test_invalid_content_is_400(sandbox, token):
    status, _, body = call(sandbox, token=token, content="nonsense", format="json")
    assert status == 400
    assert json.loads(body) == {"error": 'The value of the parameter "content" is not valid'}


def test_invalid_action_is_400(sandbox, token):
    status, _, body = call(sandbox, token=token, content="arm", action="frobnicate",
                           format="csv")
    assert (status, body) == (400, 'ERROR: The value of the parameter "action" is not valid')


def test_non_post_is_501(sandbox, token):
    with serve_in_thread(sandbox) as url:
        got = requests.get(url, timeout=5)
    assert got.status_code == 501
    assert "The requested method is not implemented." in got.text


def test_success_content_types(sandbox, token):
    assert call(sandbox, token=token, content="instrument", format="json")[1] == \
        "application/json; charset=utf-8"
    assert call(sandbox, token=token, content="instrument", format="csv")[1] == \
        "text/csv; charset=utf-8"
    assert call(sandbox, token=token, content="instrument")[1] == "text/xml; charset=utf-8"


def test_classic_project_errors_on_longitudinal_exports(project):
    assert project.is_longitudinal is False
    for method, what in ((project.export_arms, "arms"), (project.export_events, "events"),
                         (project.export_instrument_event_mappings, "form/event mappings")):
        with pytest.raises(redcap.RedcapError) as err:
            method()
        assert err.value.args[0] == {"error": f"You cannot export {what} for classic projects"}


def test_booleans_accept_true_and_1_case_insensitively(sandbox, token, project):
    seed_two(project)
    for value in ("True", "true", "1"):
        status, _, body = call(sandbox, token=token, content="record", format="json",
                               exportDataAccessGroups=value, fields="age")
        assert "redcap_data_access_group" in json.loads(body)[0], value
    status, _, body = call(sandbox, token=token, content="record", format="json",
                           exportDataAccessGroups="yes", fields="age")
    assert "redcap_data_access_group" not in json.loads(body)[0]


def test_php_array_indices_keep_their_order(sandbox, token, project):
    seed_two(project)
    body = urlencode([("token", token), ("content", "record"), ("format", "json"),
                      ("fields[1]", "eligible"), ("fields[0]", "age"), ("records[0]", "2")])
    status, _, data = sandbox.handle(body)
    assert status == 200 and json.loads(data) == [
        {"record_id": "2", "redcap_repeat_instrument": "", "redcap_repeat_instance": "",
         "age": "41", "eligible": "0"}]


def test_multipart_requests_are_parsed(sandbox, token):
    with serve_in_thread(sandbox) as url:
        got = requests.post(url, files={"token": (None, token), "content": (None, "version")},
                            timeout=5)
    assert got.status_code == 200 and got.text == "15.7.6"


def test_version_is_semver_for_pycap(project):
    assert str(project.redcap_version) == "15.7.6"


def test_import_answers_are_bare_scalars(project):
    meta = project.export_metadata()
    assert project.import_metadata(meta) == len(meta)
    assert project.import_records([{"record_id": "1"}]) == {"count": 1}


def test_log_is_newest_first_with_manage_design_trailing_space(project):
    seed_two(project)
    manage = project.export_logging(log_type="manage")
    assert manage[-1]["action"] == "Manage/Design "
    records = project.export_logging(log_type="record")
    assert [r["action"] for r in records] == ["Create record (API) 2",
                                              "Create record (API) 1"]
    assert project.export_logging(record="2")[0]["record"] == "2"


def test_create_project_needs_a_super_token_and_answers_the_token(sandbox, token):
    data = ('<?xml version="1.0" encoding="UTF-8" ?><item><project_title>New</project_title>'
            "<purpose>0</purpose></item>")
    status, _, body = call(sandbox, token=token, content="project", format="xml", data=data)
    assert status == 403 and "64-character Super API Token" in body
    super_token = sandbox.create_super_token()
    status, _, body = call(sandbox, token=super_token, content="project", format="xml",
                           data=data)
    assert status == 200 and len(body) == 32
    status, _, body = call(sandbox, token=body, content="project", format="json")
    assert json.loads(body)["project_title"] == "New"
    status, _, body = call(sandbox, token=super_token, content="project", format="xml",
                           data="<item><project_title>x</project_title></item>")
    assert status == 400 and "'purpose' must have a value of 0, 1, 2, 3, or 4" in body


def test_project_from_pycap_simple_project_xml(sandbox, api):
    odm = (CORPUS / "api_fixtures" / "194_redcap-tools_PyCap_test_simple_project.xml").read_text()
    super_token = sandbox.create_super_token()
    got = requests.post(api, data={
        "token": super_token, "content": "project", "format": "xml", "odm": odm,
        "data": "<item><project_title>PyCap simple</project_title><purpose>0</purpose></item>"},
        timeout=10)
    project = redcap.Project(api, got.text[-32:])
    assert len(project.export_records()) == 3
    assert len(project.export_metadata()) == 15
    assert len(project.export_field_names()) == 16
    assert project.export_user_roles()[0]["role_label"] == "Example Role"
    assert [d["unique_group_name"] for d in project.export_dags()] == ["test_dag"]
    assert len(project.export_users()) == 1 and project.export_users()[0]["api_export"] == 1
    assert project.export_project_info()["is_longitudinal"] == 0


def test_create_project_from_odm_in_python(sandbox, api):
    odm = CORPUS / "api_fixtures" / "100_IUREDCap_redcap-etl_RepeatingForms.REDCap.xml"
    token = sandbox.create_project_from_odm(odm, title="Repeating forms")
    project = redcap.Project(api, token)
    assert project.export_project_info()["project_title"] == "Repeating forms"
    setup = project.export_repeating_instruments_events()
    assert setup and all(r["form_name"] for r in setup)
    rows = project.export_records()
    assert any(r["redcap_repeat_instrument"] for r in rows)


@pytest.mark.parametrize("name", [
    "136_OuhscBbmc_REDCapR_checkboxes-1-project.xml",        # one FormData per form
    "172_OuhscBbmc_REDCapR_russian-project.xml",             # non-ASCII, text record ids
    "206_ucl-isd_redcap-clinical-trials-test-scripts_Project418.xml",  # invalid stored values
    "099_IUREDCap_redcap-etl_RepeatingEvents.REDCap.xml",    # repeating events
])
def test_real_project_xml_files_create_projects_with_their_data(sandbox, name):
    token = sandbox.create_project_from_odm(CORPUS / "api_fixtures" / name)
    status, _, body = call(sandbox, token=token, content="record", format="json")
    assert status == 200 and len(json.loads(body)) > 0


def test_data_only_odm_is_not_a_project(sandbox):
    odm = CORPUS / "api_fixtures" / "090_IUREDCap_redcap-etl_repeating-event-inst.REDCap.xml"
    super_token = sandbox.create_super_token()
    status, _, body = call(sandbox, token=super_token, content="project", format="xml",
                           data="<item><project_title>x</project_title><purpose>0</purpose>"
                                "</item>", odm=odm.read_text(encoding="utf-8"))
    assert status == 400 and "appears not to be valid XML" in body
