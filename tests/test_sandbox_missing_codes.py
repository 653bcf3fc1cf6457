"""Missing data codes in the sandbox (issue 13 part 3): project info carries them in REDCap's
``"UNK, Unknown | NASK, Not asked"`` form, they can be imported, Project XML creation reads
them, and a record import takes a code in any field that accepts codes, whatever its
validation, but not in a ``@NOMISSING`` field."""

from __future__ import annotations

import json

import pytest
import redcap
import requests
from sandbox_fixtures import HEADER, ROWS, api, sandbox  # noqa: F401

from sgbm_redcap.dictionary.odm import build_project_xml
from sgbm_redcap.dictionary.project import study_project
from sgbm_redcap.sandbox import Sandbox

CODED_ROWS = ROWS + "site_id,enrolment,,text,Site patient id,,,integer,,,,,,,,,,@NOMISSING\n"


@pytest.fixture
def coded(sandbox: Sandbox) -> str:  # noqa: F811
    return sandbox.create_project(HEADER + CODED_ROWS, repeating_forms=["adverse_events"],
                                  settings={"missing_data_codes": "UNK, Unknown\nND, Not done"})


def test_project_info_exports_and_imports_the_codes(api: str, coded: str) -> None:  # noqa: F811
    project = redcap.Project(api, coded)
    assert project.export_project_info()["missing_data_codes"] == "UNK, Unknown | ND, Not done"
    assert redcap.Project(api, coded).export_project_info(format_type="csv").count("UNK") == 1
    # REDCap's "Import Project Information" (content=project_settings)
    answer = requests.post(api, data={
        "token": coded, "content": "project_settings", "format": "json",
        "data": json.dumps({"missing_data_codes": "NASK, Not asked\nUNK, Unknown"})}, timeout=30)
    assert answer.status_code == 200 and answer.text.strip() == "1"
    assert project.export_project_info()["missing_data_codes"] == "NASK, Not asked | UNK, Unknown"


def test_a_code_is_accepted_whatever_the_validation(api: str, coded: str) -> None:  # noqa: F811
    project = redcap.Project(api, coded)
    row = {"record_id": "1", "enrol_date": "ND", "age": "UNK", "kps": "UNK",
           "email": "ND", "eligible": "UNK", "subtype": "ND"}
    assert project.import_records([row], date_format="DMY")["count"] == 1
    back = project.export_records(format_type="json")[0]
    assert {k: back[k] for k in row} == row  # stored as written, never date-converted
    with pytest.raises(redcap.RedcapError, match="site_id"):
        project.import_records([{"record_id": "2", "site_id": "UNK"}])
    with pytest.raises(redcap.RedcapError, match="age"):
        project.import_records([{"record_id": "3", "age": "unk"}])  # the code exactly


def test_without_codes_a_code_is_an_ordinary_invalid_value(api: str, sandbox: Sandbox  # noqa: F811
                                                           ) -> None:
    token = sandbox.create_project(HEADER + ROWS)
    project = redcap.Project(api, token)
    assert project.export_project_info()["missing_data_codes"] == ""
    with pytest.raises(redcap.RedcapError, match="age"):
        project.import_records([{"record_id": "1", "age": "UNK"}])


def test_project_xml_creation_reads_the_codes(api: str, sandbox: Sandbox) -> None:  # noqa: F811
    token = sandbox.create_project_from_odm(build_project_xml(study_project()))
    info = redcap.Project(api, token).export_project_info()
    assert info["missing_data_codes"] == study_project().missing_codes.to_project_info()
