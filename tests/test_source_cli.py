"""``sgbm-redcap pull`` against the fake REDCap: thin layer, exit codes, no token option."""

from __future__ import annotations

import json

import pandas as pd
import responses
from click.testing import CliRunner
from test_source_remote import TOKEN, URL, FakeRedcap

from sgbm_redcap.cli import main


def run(args, env):
    fake = FakeRedcap()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.POST, URL, callback=fake)
        return CliRunner().invoke(main, ["pull", *args], env=env)


def test_pull_then_sweep_and_write_tables(tmp_path):
    env = {"SGBM_REDCAP_TOKEN": TOKEN, "SGBM_REDCAP_RETRIES": "0"}
    base = ["--url", URL, "--cache-dir", str(tmp_path / "cache")]
    first = run([*base, "--out", str(tmp_path / "out")], env)
    assert first.exit_code == 0, first.output
    assert first.output.startswith("full pull (no cache): 7 records")
    assert TOKEN not in first.output
    enrol = pd.read_parquet(tmp_path / "out" / "enrolment.parquet")
    assert len(enrol) == 7 and str(enrol["age"].dtype) == "Int64"
    second = run([*base, "--json"], env)
    assert second.exit_code == 0, second.output
    assert json.loads(second.output)["mode"] == "incremental"


def test_missing_token_is_a_configuration_error(tmp_path):
    result = run(["--url", URL, "--cache-dir", str(tmp_path)], {"SGBM_REDCAP_TOKEN": ""})
    assert result.exit_code == 2
    assert "SGBM_REDCAP_TOKEN" in result.output


def test_rejected_token_and_wrong_url_exit_2(tmp_path):
    rejected = run(["--url", URL, "--cache-dir", str(tmp_path)],
                   {"SGBM_REDCAP_TOKEN": "F" * 32, "SGBM_REDCAP_RETRIES": "0"})
    assert rejected.exit_code == 2 and "rejected the API token" in rejected.output
    wrong = run(["--url", "https://redcap.example.org/", "--cache-dir", str(tmp_path)],
                {"SGBM_REDCAP_TOKEN": TOKEN})
    assert wrong.exit_code == 2 and "/api/" in wrong.output


def test_there_is_no_token_option():
    result = CliRunner().invoke(main, ["pull", "--help"])
    assert result.exit_code == 0 and "--token" not in result.output
