"""``sgbm-redcap report``: thin commands over the library (set up with the library, invoke
the CLI, check with the library)."""

from __future__ import annotations

from click.testing import CliRunner

from sgbm_redcap.cli import main
from sgbm_redcap.dictionary.project import load_project
from sgbm_redcap.synthetic.cohort import generate_cohort


def test_every_report_command_has_help():
    runner = CliRunner()
    for args in (["report"], ["report", "monthly"], ["report", "quality"],
                 ["report", "codebook"], ["demo"]):
        result = runner.invoke(main, [*args, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output
        assert len(result.output.split("\n\n")[1].strip()) > 20, args


def test_codebook_command_writes_the_codebook(tmp_path):
    result = CliRunner().invoke(main, ["report", "codebook", "--out", str(tmp_path),
                                       "--no-pdf"])
    assert result.exit_code == 0, result.output
    version = load_project("redcap_project").version
    path = tmp_path / f"codebook_{version}.html"
    assert result.output.strip() == str(path)
    assert 'id="field-site_patient_id"' in path.read_text()


def test_monthly_from_an_export_file(tmp_path):
    project = load_project("redcap_project")
    cohort = generate_cohort(n=40, seed=11, problem_rate=0.0)
    export = tmp_path / "records.csv"
    cohort.to_frame(dictionary=project.dictionary, with_dag=True).to_csv(export, index=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["report", "monthly", "--cutoff", "2026-10-31",
                                       "--records", str(export), "--out", str(out),
                                       "--no-pdf", "--no-checks"])
    assert result.exit_code == 0, result.output
    html = (out / "monthly_report_2026-10-31.html").read_text()
    assert str(export) in html and 'id="efficacy"' in html


def test_usage_and_configuration_errors_exit_2(tmp_path):
    runner = CliRunner()
    bad_date = runner.invoke(main, ["report", "monthly", "--cutoff", "31/10/2026"])
    assert bad_date.exit_code == 2
    bad = runner.invoke(main, ["report", "monthly", "--cutoff", "2026-10-31",
                               "--config", str(tmp_path / "missing.toml"), "--no-pdf"])
    assert bad.exit_code == 2 and "does not exist" in bad.output


def test_default_cutoff_is_the_end_of_the_previous_month():
    from datetime import date

    from sgbm_redcap.jobs import previous_month_end

    assert previous_month_end(date(2026, 11, 25)) == date(2026, 10, 31)
    assert previous_month_end(date(2026, 3, 1)) == date(2026, 2, 28)
    assert previous_month_end(date(2025, 1, 15)) == date(2024, 12, 31)


def test_listings_command_writes_one_listing_per_site(tmp_path):
    project = load_project("redcap_project")
    cohort = generate_cohort(n=20, seed=3, problem_rate=0.0)
    export = tmp_path / "records.csv"
    cohort.to_frame(dictionary=project.dictionary, with_dag=True).to_csv(export, index=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["report", "listings", "--records", str(export),
                                       "--cutoff", "2026-10-31", "--out", str(out),
                                       "--no-pdf"])
    assert result.exit_code == 0, result.output
    sites = sorted(set(cohort.dags.values()))
    written = sorted((out / "site_queries").glob("queries_*_2026-10-31.html"))
    assert [p.name for p in written] == [f"queries_{s}_2026-10-31.html" for s in sites]
    assert result.stdout.split() == [str(p) for p in written]


def test_listings_at_a_cutoff_show_only_the_queries_known_then(tmp_path):
    """A query raised after the cut-off is not in the listing as of the cut-off; one raised
    before it and answered after it is still shown (it was open then)."""
    import pandas as pd

    project = load_project("redcap_project")
    cohort = generate_cohort(n=20, seed=3, problem_rate=0.0)
    raw = cohort.to_frame(dictionary=project.dictionary, with_dag=True)
    base = raw[raw["redcap_repeat_instrument"].fillna("") == ""].iloc[0]
    rows = []
    for i, (opened, answered, message) in enumerate(
            [("2026-10-01", "2026-11-10", "Raised before the cut-off"),
             ("2026-11-15", "", "Raised after the cut-off")], start=1):
        row = {c: "" for c in raw.columns}
        row.update(record_id=base["record_id"],
                   redcap_data_access_group=base["redcap_data_access_group"],
                   redcap_repeat_instrument="data_queries", redcap_repeat_instance=i,
                   dq_id=f"T:{i}", dq_rule="DATE-1", dq_status="2" if answered else "1",
                   dq_message=message, dq_opened_date=opened, dq_answered_date=answered,
                   dq_site_response="Checked" if answered else "", dq_severity="1",
                   dq_form="demographics", dq_field="birth_date")
        rows.append(row)
    export = tmp_path / "records.csv"
    pd.concat([raw, pd.DataFrame(rows)], ignore_index=True).to_csv(export, index=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["report", "listings", "--records", str(export),
                                       "--cutoff", "2026-10-31", "--out", str(out),
                                       "--no-pdf"])
    assert result.exit_code == 0, result.output
    html = (out / "site_queries"
            / f"queries_{base['redcap_data_access_group']}_2026-10-31.html").read_text()
    assert "Raised before the cut-off" in html
    assert "Raised after the cut-off" not in html
