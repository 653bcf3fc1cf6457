"""The sweep, checks and eligibility commands through click's runner."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sweep_helpers import seeded_study

from sgbm_redcap.cli.checks import command as checks_cli
from sgbm_redcap.cli.eligibility import command as eligibility_cli
from sgbm_redcap.cli.sweep import command as sweep_cli


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    with seeded_study(tmp_path_factory.mktemp("cli"), n=12, problem_rate=0.5, seed=9) as s:
        yield s


def test_sweep_dry_run_then_real_then_quiet(study, tmp_path, monkeypatch):
    monkeypatch.setenv("SGBM_REDCAP_TOKEN", study.token)
    monkeypatch.chdir(tmp_path)
    args = ["--url", study.url, "--cutoff", "2026-11-25", "--audit-log", "audit.jsonl"]
    dry = CliRunner().invoke(sweep_cli, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    n = dry.output.count("would open")
    assert n > 0 and "would post" in dry.output
    assert study.queries().empty and not (tmp_path / "audit.jsonl").exists()
    real = CliRunner().invoke(sweep_cli, [*args, "--listings", "lists"])
    assert real.exit_code == 0, real.output
    assert f"posted {n} new" in real.output and len(study.queries()) == n
    assert any((tmp_path / "lists").glob("queries_*.html"))
    again = CliRunner().invoke(sweep_cli, args)
    assert "posted 0 new, 0 closed, 0 reopened" in again.output


def test_sweep_refuses_to_overlap_a_running_one(study, tmp_path, monkeypatch):
    from filelock import FileLock

    monkeypatch.setenv("SGBM_REDCAP_TOKEN", study.token)
    lock = tmp_path / "lock"
    with FileLock(str(lock)):
        out = CliRunner().invoke(sweep_cli, ["--url", study.url, "--lock", str(lock),
                                             "--dry-run"])
    assert out.exit_code == 1 and "another sweep holds the lock" in out.output


def test_checks_run_and_eligibility_on_an_export_file(study, tmp_path):
    from sgbm_redcap.jobs import study_dictionary

    csv = tmp_path / "export.csv"
    study.cohort.to_frame(dictionary=study_dictionary(), with_dag=True).to_csv(csv, index=False)
    run = CliRunner().invoke(checks_cli, ["run", "--records", str(csv), "--cutoff",
                                          "2026-11-25"])
    assert run.exit_code == 1 and "findings" in run.output     # planted problems: exit 1
    elig = CliRunner().invoke(eligibility_cli, ["--records", str(csv)])
    assert elig.exit_code == 0, elig.output
    violations = [p for p in study.manifest if p.kind == "eligibility_violation"]
    for p in violations:
        assert p.record_id in elig.output
