"""``sgbm-redcap monitor`` and ``sweep --dashboard`` through click's runner: files written,
bad input as one line with its exit code."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from click.testing import CliRunner
from sweep_helpers import seeded_study

from sgbm_redcap.cli import main


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    with seeded_study(tmp_path_factory.mktemp("mcli"), n=12, problem_rate=0.3, seed=5) as s:
        yield s


def test_sweep_writes_the_dashboard_with_dashboard(study, tmp_path, monkeypatch):
    monkeypatch.setenv("SGBM_REDCAP_TOKEN", study.token)
    monkeypatch.chdir(tmp_path)
    run = CliRunner().invoke(main, ["sweep", "--url", study.url, "--cutoff", "2026-11-25",
                                    "--audit-log", "a.jsonl", "--dashboard", "dash"])
    assert run.exit_code == 0, run.output
    assert (tmp_path / "dash" / "monitoring_2026-11-25.html").is_file()
    assert (tmp_path / "dash" / "monitoring_2026-11-25.pdf").is_file()
    assert "wrote dash/monitoring_2026-11-25.html" in run.output


def test_monitor_writes_the_page_and_says_what_is_red(study, tmp_path, monkeypatch):
    monkeypatch.setenv("SGBM_REDCAP_TOKEN", study.token)
    run = CliRunner().invoke(main, ["monitor", "--url", study.url, "--out", str(tmp_path),
                                    "--date", "2026-11-25", "--no-pdf"])
    assert run.exit_code == 0, run.output
    assert (tmp_path / "monitoring_2026-11-25.html").is_file()
    assert "red indicator(s)" in run.output


def test_monitor_bad_input_is_one_line_and_exit_2(study, tmp_path, monkeypatch):
    monkeypatch.setenv("SGBM_REDCAP_TOKEN", study.token)
    future = str(date.today() + timedelta(days=30))
    run = CliRunner().invoke(main, ["monitor", "--url", study.url, "--out", str(tmp_path),
                                    "--date", future])
    assert run.exit_code == 2 and "Traceback" not in run.output
    blocked = tmp_path / "file"
    blocked.write_text("x")
    run = CliRunner().invoke(main, ["monitor", "--url", study.url, "--out", str(blocked)])
    assert run.exit_code == 2 and "Traceback" not in run.output, run.output
    bad = tmp_path / "s.toml"
    bad.write_text("[sgbm_redcap.monitoring.lag]\nred = 3\n")
    run = CliRunner().invoke(main, ["monitor", "--config", str(bad), "--url", study.url,
                                    "--out", str(tmp_path), "--no-pdf"])
    assert run.exit_code == 2 and "Unknown indicator 'lag'" in run.output, run.output
