"""Design endpoints through PyCap: metadata, field names, longitudinal setup from PyCap's own
long-project XML, users, roles and DAGs (REDCAP_API.md §3, §4.6, §8)."""

from __future__ import annotations

import pytest
import redcap
import requests
from sandbox_fixtures import *  # noqa: F403  (the shared fixtures)
from sandbox_fixtures import CORPUS, seed_two

from sgbm_redcap.sandbox.meta import METADATA_KEYS


@pytest.fixture
def long_project(sandbox, api) -> redcap.Project:
    odm = (CORPUS / "api_fixtures" / "193_redcap-tools_PyCap_test_long_project.xml").read_text()
    got = requests.post(api, data={
        "token": sandbox.create_super_token(), "content": "project", "format": "xml",
        "odm": odm, "data": "<item><project_title>Long</project_title><purpose>0</purpose></item>"},
        timeout=10)
    assert got.status_code == 200, got.text
    return redcap.Project(api, got.text[-32:])


def test_metadata_export_keys_csv_header_and_no_complete_fields(project):
    meta = project.export_metadata()
    assert list(meta[0]) == list(METADATA_KEYS)
    assert not any(m["field_name"].endswith("_complete") for m in meta)
    assert project.export_metadata(format_type="csv").startswith("field_name,form_name,")
    assert {m["field_name"]: m["select_choices_or_calculations"] for m in meta}["ec_mets"] == \
        "1, Liver | 2, Lung | -99, Unknown"


def test_metadata_import_replaces_the_dictionary(project):
    meta = project.export_metadata()
    assert project.import_metadata(meta[:5]) == 5
    assert [m["field_name"] for m in project.export_metadata()] == [
        m["field_name"] for m in meta[:5]]
    assert project.import_metadata(project.export_metadata(format_type="csv"),
                                   import_format="csv") == 5
    df = project.export_metadata(format_type="df")
    assert project.import_metadata(df, import_format="df") == 5


def test_metadata_import_validator_errors(project):
    meta = project.export_metadata()
    bad = [dict(meta[0]), dict(meta[1], field_name="enrol_date"), dict(meta[1]),
           dict(meta[2], field_name="2bad"), dict(meta[3], field_type="wobble")]
    with pytest.raises(redcap.RedcapError) as err:
        project.import_metadata(bad)
    message = err.value.args[0]["error"]
    assert "'enrol_date' is duplicated" in message
    assert "'2bad' is not valid" in message
    assert "field type 'wobble' is not valid" in message
    assert len(project.export_metadata()) == len(meta)


def test_metadata_import_is_development_only(project, sandbox, token):
    owner = sandbox.store.token_owner(token)
    with sandbox.store.write() as conn:
        _, config = sandbox.store.project_config(owner[0])
        config["in_production"] = 1
        sandbox.store.save_config(conn, owner[0], config)
    with pytest.raises(redcap.RedcapError, match="Production status"):
        project.import_metadata(project.export_metadata())


def test_field_names_include_calc_and_complete_but_not_file_or_descriptive(project):
    names = [r["export_field_name"] for r in project.export_field_names()]
    assert "age_x2" in names and "enrolment_complete" in names
    assert "consent_doc" not in names and "intro" not in names
    assert names.count("ec_mets____99") == 1
    assert len(project.export_field_names(field="age")) == 1
    df = project.export_field_names(format_type="df")
    assert list(df.columns) == ["choice_value", "export_field_name"]
    with pytest.raises(redcap.RedcapError, match="Invalid field"):
        project.export_field_names(field="zzz")


def test_instruments_and_project_info(project):
    assert project.export_instruments() == [
        {"instrument_name": "enrolment", "instrument_label": "Enrolment"},
        {"instrument_name": "adverse_events", "instrument_label": "Adverse events"}]
    info = project.export_project_info()
    assert info["has_repeating_instruments_or_events"] == 1 and info["purpose"] == 0


def test_repeating_forms_round_trip(project):
    setup = project.export_repeating_instruments_events()
    assert setup == [{"form_name": "adverse_events", "custom_form_label": ""}]
    for fmt in ("json", "csv", "xml"):
        exported = project.export_repeating_instruments_events(format_type=fmt)
        assert project.import_repeating_instruments_events(exported, import_format=fmt) == 1


def test_long_project_arms_events_and_mappings(long_project):
    p = long_project
    assert p.is_longitudinal is True
    assert p.export_arms() == [{"arm_num": 1, "name": "Drug A"}, {"arm_num": 2, "name": "Drug B"}]
    assert len(p.export_events()) == 16
    fem = p.export_instrument_event_mappings()
    assert len(fem) == 44 and isinstance(fem[0]["arm_num"], int)
    assert p.import_arms([{"arm_num": 3, "name": "Drug C"}]) == 1
    assert len(p.export_arms()) == 2  # arms without events are hidden
    assert p.import_events([{"event_name": "XYZ", "arm_num": "3"}]) == 1
    assert len(p.export_arms()) == 3
    assert [e["unique_event_name"] for e in p.export_events()][-1] == "xyz_arm_3"
    assert p.delete_events(["xyz_arm_3"]) == 1
    assert p.delete_arms([3]) == 1
    assert p.import_instrument_event_mappings([fem[0]]) == 1
    assert p.export_instrument_event_mappings() == [fem[0]]  # import replaces all
    assert p.import_instrument_event_mappings(fem) == 44


def test_long_project_records_by_event(long_project):
    p = long_project
    rows = [{"study_id": "3", "redcap_event_name": ev, "redcap_repeat_instrument": "",
             "redcap_repeat_instance": ""} for ev in ("enrollment_arm_1", "visit_1_arm_1")]
    assert p.import_records(rows) == {"count": 1}
    assert len(p.export_records(records=["3"])) == 2
    assert p.delete_records(["3"], event="visit_1_arm_1") == 1
    assert len(p.export_records(records=["3"])) == 1
    assert p.delete_records(["3"]) == 1
    csv_text = p.export_records(format_type="csv", raw_or_label_headers="label")
    assert csv_text.startswith('"Study ID","Event Name",')  # fputcsv quotes spaces
    with pytest.raises(redcap.RedcapError, match="redcap_event_name are invalid: nope_arm_1"):
        p.import_records([{"study_id": "4", "redcap_event_name": "nope_arm_1"}])
    with pytest.raises(redcap.RedcapError, match="not designated for the event"):
        p.import_records([{"study_id": "4", "redcap_event_name": "visit_1_arm_1",
                           "first_name": "Ann"}])
    forms = p.export_records(format_type="df", forms=["demographics", "baseline_data"])
    assert [c for c in forms.columns if c.endswith("_complete")] == [
        "demographics_complete", "baseline_data_complete"]
    assert forms.index.names == ["study_id", "redcap_event_name"]


def test_event_label_export_with_several_arms(long_project):
    rows = long_project.export_records(raw_or_label="label", records=["1"])
    assert rows[0]["redcap_event_name"] == "Enrollment (Arm 1: Drug A)"


def test_users_roles_and_role_mapping(project):
    assert [u["username"] for u in project.export_users()] == ["sandbox_admin"]
    assert project.import_user_roles([{"role_label": "Monitor"}]) == 1
    role = project.export_user_roles()[-1]
    assert role["role_label"] == "Monitor" and role["unique_role_name"].startswith("U-")
    assert project.import_users([{"username": "cra_site_a"}]) == 1
    assert project.import_user_role_assignment(
        [{"username": "cra_site_a", "unique_role_name": role["unique_role_name"]}]) == 1
    mapping = {m["username"]: m["unique_role_name"]
               for m in project.export_user_role_assignment()}
    assert mapping["cra_site_a"] == role["unique_role_name"]
    assert project.delete_users(["cra_site_a"]) == 1
    assert project.delete_user_roles([role["unique_role_name"]]) == 1
    assert project.export_user_roles() == []


def test_dags_create_unique_names_and_user_assignment(project):
    assert project.import_dags([{"data_access_group_name": "New DAG", "unique_group_name": ""}],
                               return_format_type="csv") == "1"
    dags = project.export_dags(format_type="df")
    assert "new_dag" in dags["unique_group_name"].tolist() and len(dags) == 3
    mapping = project.export_user_dag_assignment()
    assert mapping == [{"username": "sandbox_admin", "redcap_data_access_group": ""}]
    assert project.import_user_dag_assignment(mapping, return_format_type="csv") == "1"
    assert project.delete_dags(["new_dag"]) == 1
    assert len(project.export_dags()) == 2


def test_rights_are_enforced(project, sandbox, token, api):
    seed_two(project)
    project.import_users([{"username": "reader", "api_export": "1", "api_import": "0"}])
    owner = sandbox.store.token_owner(token)
    from sgbm_redcap.sandbox.project import new_token

    reader_token = new_token()
    with sandbox.store.write() as conn:
        conn.execute("INSERT INTO tokens (token, pid, username) VALUES (?,?,?)",
                     (reader_token, owner[0], "reader"))
    reader = redcap.Project(api, reader_token)
    assert len(reader.export_records()) == 4
    with pytest.raises(redcap.RedcapError, match="You do not have API Import/Update privileges"):
        reader.import_records([{"record_id": "9"}])
    with pytest.raises(redcap.RedcapError, match="You do not have Delete Record privileges"):
        reader.delete_records(["1"])


def test_arm_import_with_override_deletes_events_and_mappings(long_project):
    p = long_project
    events, fem = p.export_events(), p.export_instrument_event_mappings()
    arms = p.export_arms()
    assert p.import_arms(arms, override=1) == 2
    assert p.export_instrument_event_mappings() == []
    assert p.export_arms() == []  # the arms remain, but arms without events are hidden
    assert p.import_events([{k: v for k, v in e.items() if k != "unique_event_name"}
                            for e in events]) == 16
    assert p.import_instrument_event_mappings(fem) == 44
    assert [e["unique_event_name"] for e in p.export_events()] == [
        e["unique_event_name"] for e in events]


def test_cli_create_project_writes_the_token_only_to_the_token_file(tmp_path):
    import stat

    from click.testing import CliRunner
    from sandbox_fixtures import DICTIONARY

    from sgbm_redcap.cli import main

    dictionary = tmp_path / "dd.csv"
    dictionary.write_text(DICTIONARY, encoding="utf-8")
    token_file = tmp_path / "token"
    result = CliRunner().invoke(main, [
        "sandbox", "create-project", "--data", str(tmp_path / "sb"), "--dictionary",
        str(dictionary), "--repeating", "adverse_events", "--dag", "Site A",
        "--token-file", str(token_file)])
    assert result.exit_code == 0, result.output
    written = token_file.read_text().strip()
    assert len(written) == 32 and written not in result.output
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600


def test_deleting_an_event_deletes_its_data_and_only_its_data(long_project):
    """Rows of the deleted event go; the records' other events stay as they were; a record
    whose only data was in that event is gone."""
    p = long_project
    assert p.import_records([{"study_id": "99", "redcap_event_name": "dose_1_arm_1",
                              "pmq3": "1"}]) == {"count": 1}
    before = p.export_records()
    assert any(r["redcap_event_name"] == "dose_1_arm_1" for r in before)
    assert p.delete_events(["dose_1_arm_1"]) == 1
    after = p.export_records()
    assert after == [r for r in before if r["redcap_event_name"] != "dose_1_arm_1"
                     and r["study_id"] != "99"]
    assert "99" not in {r["study_id"] for r in after}
    assert p.generate_next_record_name() == str(max(int(r["study_id"]) for r in after) + 1)
