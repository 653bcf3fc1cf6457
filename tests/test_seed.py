"""Seeding: the study project is built in a sandbox and the cohort arrives through PyCap,
record for record, site for site; planted invalid codes survive the dictionary deploy."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import redcap
import responses
from click.testing import CliRunner

from sgbm_redcap.cli import main
from sgbm_redcap.dictionary import load_dictionary
from sgbm_redcap.sandbox import Sandbox, route_responses, serve_in_thread
from sgbm_redcap.synthetic.cohort import generate_cohort
from sgbm_redcap.synthetic.seed import api_metadata, seed_study, widen_choices

DICTIONARY = Path(__file__).resolve().parents[1] / "redcap_project" / "data_dictionary.csv"


def _export(url: str, token: str) -> pd.DataFrame:
    project = redcap.Project(url, token)
    return project.export_records(format_type="df", export_data_access_groups=True,
                                  df_kwargs={"dtype": str, "keep_default_na": False}
                                  ).reset_index().astype(str)


def _key(frame: pd.DataFrame) -> pd.Series:
    return (frame["record_id"].astype(str) + "|" + frame["redcap_repeat_instrument"] + "|"
            + frame["redcap_repeat_instance"].astype(str))


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    sb = Sandbox(tmp_path_factory.mktemp("seeded"))
    cohort = generate_cohort(25, seed=5, problem_rate=0.4,
                             problem_kinds=["invalid_choice", "out_of_range", "impossible_date",
                                            "missing_required"])
    study = seed_study(sb, cohort=cohort, batch_size=7)  # several import requests
    return sb, study


def test_seeded_records_round_trip_through_pycap_in_process(seeded):
    sb, study = seeded
    url, token = study
    assert len(token) == 32 and token not in repr(study)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        local = route_responses(rsps, sb)
        exported = _export(local, token)
    expected = study.cohort.to_frame(dictionary=load_dictionary(DICTIONARY))
    assert len(exported) == len(expected)
    exported = exported.set_index(_key(exported))
    expected = expected.set_index(_key(expected))
    columns = [c for c in expected.columns if c in exported.columns]
    assert len(columns) > 250
    pd.testing.assert_frame_equal(exported.loc[expected.index, columns], expected[columns],
                                  check_dtype=False)


def test_each_record_sits_in_its_sites_dag(seeded):
    sb, study = seeded
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        exported = _export(route_responses(rsps, sb), study.token)
    base = exported[exported["redcap_repeat_instrument"] == ""]
    assert dict(zip(base["record_id"], base["redcap_data_access_group"], strict=True)) == \
        study.cohort.dags


def test_planted_invalid_codes_stay_after_the_study_dictionary_is_deployed(seeded):
    sb, study = seeded
    invalid = [m for m in study.manifest if m.kind == "invalid_choice"]
    assert invalid
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        project = redcap.Project(route_responses(rsps, sb), study.token)
        metadata = {m["field_name"]: m for m in project.export_metadata()}
        exported = _export(project.url, study.token)
    for m in invalid:
        assert "Retired" not in metadata[m.field]["select_choices_or_calculations"]
        rows = exported[(exported["record_id"] == m.record_id)]
        assert (rows[m.field] == study.cohort.planted_value(m)).any(), m


def test_seed_over_http_with_a_super_token(tmp_path):
    sb = Sandbox(tmp_path)
    super_token = sb.create_super_token()
    with serve_in_thread(sb) as url:
        study = seed_study(url, super_token=super_token, n=12, seed=9, problem_rate=0)
        exported = _export(url, study.token)
        project = redcap.Project(url, study.token)
        repeating = {r["form_name"] for r in project.export_repeating_instruments_events()}
        dags = {d["unique_group_name"] for d in project.export_dags()}
    assert study.url == url
    assert exported["record_id"].nunique() == 12
    assert "adverse_events" in repeating and "data_queries" in repeating
    assert set(study.cohort.dags.values()) <= dags


def test_widen_choices_and_api_metadata_keep_the_dictionary_shape():
    text = ("Variable / Field Name,Form Name,Section Header,Field Type,Field Label,"
            "\"Choices, Calculations, OR Slider Labels\",Field Note,Text Validation Type OR "
            "Show Slider Number,Text Validation Min,Text Validation Max,Identifier?,Branching "
            "Logic (Show field only if...),Required Field?,Custom Alignment,Question Number "
            "(surveys only),Matrix Group Name,Matrix Ranking?,Field Annotation\n"
            "record_id,f,,text,ID,,,,,,,,,,,,,\n"
            "sex,f,,radio,Sex,\"1, Female | 2, Male\",,,,,,,y,,,,,\n")
    wide = widen_choices(text, {"sex": {"4"}})
    rows = api_metadata(wide)
    assert [r["field_name"] for r in rows] == ["record_id", "sex"]
    assert rows[1]["select_choices_or_calculations"] == "1, Female | 2, Male | 4, Retired code 4"
    assert rows[1]["required_field"] == "y" and len(rows[1]) == 18
    assert widen_choices(text, {}) == text


def test_cli_seed_writes_manifest_and_token_file_but_prints_no_token(tmp_path):
    data = tmp_path / "sb"
    manifest, token_file = tmp_path / "manifest.json", tmp_path / "token"
    result = CliRunner().invoke(main, [
        "sandbox", "seed", "--data", str(data), "--n", "15", "--problem-rate", "0.4",
        "--manifest", str(manifest), "--token-file", str(token_file)])
    assert result.exit_code == 0, result.output
    token = token_file.read_text().strip()
    assert len(token) == 32 and token not in result.output
    problems = json.loads(manifest.read_text())
    assert len(problems) == 6 and {"kind", "record_id", "field"} <= set(problems[0])
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"


def test_seed_refuses_a_url_without_super_token_and_unknown_targets(tmp_path):
    from sgbm_redcap.errors import ConfigError

    with pytest.raises(ConfigError, match="super token"):
        seed_study("http://127.0.0.1:9/api/", n=3)
    with pytest.raises(TypeError, match="Sandbox or an API URL"):
        seed_study(tmp_path, n=3)


def test_a_refused_project_creation_is_a_redcap_api_error(tmp_path):
    from sgbm_redcap.errors import RedcapApiError

    sb = Sandbox(tmp_path)
    with serve_in_thread(sb) as url, pytest.raises(RedcapApiError) as err:
        seed_study(url, super_token="0" * 64, n=3)
    assert err.value.call == "create_project" and err.value.status_code == 403
