"""Shared fixtures of the sandbox tests: a small study-like dictionary and PyCap projects
driven both over real HTTP on 127.0.0.1 and in-process through ``responses``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redcap
import responses
from corpus import CORPUS  # noqa: F401  (re-exported)

from sgbm_redcap.sandbox import Sandbox, route_responses, serve_in_thread

__all__ = ["api", "project", "sandbox", "token"]


HEADER = (
    "Variable / Field Name,Form Name,Section Header,Field Type,Field Label,"
    '"Choices, Calculations, OR Slider Labels",Field Note,'
    "Text Validation Type OR Show Slider Number,Text Validation Min,Text Validation Max,"
    "Identifier?,Branching Logic (Show field only if...),Required Field?,Custom Alignment,"
    "Question Number (surveys only),Matrix Group Name,Matrix Ranking?,Field Annotation\n"
)
ROWS = """record_id,enrolment,,text,Record ID,,,,,,,,,,,,,
enrol_date,enrolment,,text,Enrolment date,,,date_ymd,,,,,,,,,,
age,enrolment,,text,Age at enrolment,,,integer,18,120,,,,,,,,
kps,enrolment,,text,KPS,,,integer,0,100,,,,,,,,@FORCE-MINMAX
email,enrolment,,text,Contact e-mail,,,email,,,,,,,,,,
eligible,enrolment,,yesno,Eligible,,,,,,,,,,,,,
intro,enrolment,,descriptive,Please fill in,,,,,,,,,,,,,
ec_mets,enrolment,,checkbox,Extracranial metastases,"1, Liver | 2, Lung | -99, Unknown",,,,,,,,,,,,
subtype,enrolment,,radio,Subtype,"1, HR+/HER2- | 2, TNBC | 3, Other",,,,,,,,,,,,
consent_doc,enrolment,,file,Consent form,,,,,,,,,,,,,
ae_term,adverse_events,,dropdown,Adverse event,"1, Nausea | 2, Diarrhoea | 3, Neutropenia",,,,,,,,,,,,
ae_grade,adverse_events,,radio,Grade,"1, 1 | 2, 2 | 3, 3 | 4, 4 | 5, 5",,,,,,,,,,,,
ae_onset_date,adverse_events,,text,Onset,,,date_ymd,,,,,,,,,,
age_x2,adverse_events,,calc,Twice the age,[age]*2,,,,,,,,,,,,
ae_comment,adverse_events,,notes,Comment,,,,,,,,,,,,,
"""
DICTIONARY = HEADER + ROWS


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    return Sandbox(tmp_path / "sandbox")


@pytest.fixture
def token(sandbox: Sandbox) -> str:
    return sandbox.create_project(DICTIONARY, repeating_forms=["adverse_events"],
                                  dags=["Site A", "Site B"])


@pytest.fixture(params=["http", "mock"])
def api(request: pytest.FixtureRequest, sandbox: Sandbox) -> Iterator[str]:
    """The sandbox's API URL, over real HTTP on 127.0.0.1 or routed in-process."""
    if request.param == "http":
        with serve_in_thread(sandbox, port=0) as url:
            yield url
    else:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            yield route_responses(rsps, sandbox)


@pytest.fixture
def project(api: str, token: str) -> redcap.Project:
    return redcap.Project(api, token)


def seed_two(project: redcap.Project) -> None:
    """Two enrolled patients, one with two adverse events."""
    project.import_records([
        {"record_id": "1", "enrol_date": "2024-09-01", "age": "55", "eligible": "1",
         "ec_mets___1": "1", "ec_mets____99": "1", "subtype": "2"},
        {"record_id": "1", "redcap_repeat_instrument": "adverse_events",
         "redcap_repeat_instance": "1", "ae_term": "1", "ae_grade": "3",
         "ae_onset_date": "2024-10-02"},
        {"record_id": "1", "redcap_repeat_instrument": "adverse_events",
         "redcap_repeat_instance": "2", "ae_term": "3", "ae_grade": "4"},
        {"record_id": "2", "enrol_date": "2024-10-15", "age": "41", "eligible": "0",
         "redcap_data_access_group": "site_b"},
    ])
