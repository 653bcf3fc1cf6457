"""A data cut on disk: complete, private, verified on every read, never silently replaced."""

from __future__ import annotations

import json
import stat
from datetime import date

import pandas as pd
import pytest
from click.testing import CliRunner
from cut_fixtures import cut_from_frame, utc

from sgbm_redcap.cli import main
from sgbm_redcap.cuts import FILES, MANIFEST, read_cut
from sgbm_redcap.cuts.store import records_csv
from sgbm_redcap.dictionary.project import load_project
from sgbm_redcap.errors import CutIntegrityError, OutputError
from sgbm_redcap.source import build_tables
from sgbm_redcap.synthetic.cohort import generate_cohort

CUTOFF = date(2026, 10, 31)


@pytest.fixture(scope="module")
def project():
    return load_project("redcap_project")


@pytest.fixture(scope="module")
def frame(project):
    return generate_cohort(n=12, seed=3, problem_rate=0.0).to_frame(
        dictionary=project.dictionary, with_dag=True)


@pytest.fixture
def cut(tmp_path, frame, project):
    return cut_from_frame(tmp_path / "cuts" / "2026-10-31", frame, project, cutoff=CUTOFF,
                          created=utc(2026, 11, 2, 8, 0))


def test_a_cut_holds_every_file_with_its_sha256_and_is_private(cut):
    manifest = json.loads((cut.path / MANIFEST).read_text())
    assert sorted(manifest["files"]) == sorted(FILES)
    assert sorted(p.name for p in cut.path.iterdir()) == sorted([*FILES, MANIFEST])
    assert stat.S_IMODE(cut.path.stat().st_mode) == 0o700
    for p in cut.path.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p.name
    assert len(cut.manifest_sha256) == 64
    assert cut.info["cutoff"] == "2026-10-31" and cut.info["n_records"] == 12
    assert cut.info["study"]["nct"] == load_project("redcap_project").nct
    assert "sgbm-redcap" in cut.info["packages"]
    # nothing but the cut folder is left beside it (no temporary folder)
    assert [p.name for p in cut.path.parent.iterdir()] == ["2026-10-31"]


def test_the_cut_gives_back_the_records_as_pulled(cut, frame, project):
    raw = cut.raw()
    pd.testing.assert_frame_equal(raw, frame.astype(str).reset_index(drop=True))
    assert (cut.path / "records.csv").read_bytes() == records_csv(frame)
    typed = cut.tables()
    direct = build_tables(frame, project.dictionary, repeating_forms=project.repeating_forms,
                          missing_codes=project.missing_codes)
    for form in direct:
        pd.testing.assert_frame_equal(typed[form], direct[form], check_like=False)
    assert typed.pull.manifest_sha256 == cut.manifest_sha256


@pytest.mark.parametrize("tamper, named", [
    (lambda p: (p / "records.csv").write_bytes((p / "records.csv").read_bytes()
                                               .replace(b"2026", b"2025", 1)), "records.csv"),
    (lambda p: (p / "cut.json").write_text((p / "cut.json").read_text()
                                           .replace("2026-10-31", "2026-09-30")), "cut.json"),
    (lambda p: (p / "log.json").unlink(), "log.json"),
    (lambda p: (p / "notes.txt").write_text("added later"), "notes.txt"),
    (lambda p: (p / MANIFEST).write_text("{not json"), MANIFEST),
])
def test_a_tampered_cut_is_refused_naming_the_file(cut, tamper, named):
    tamper(cut.path)
    with pytest.raises(CutIntegrityError) as info:
        read_cut(cut.path)
    assert info.value.file == named and named in str(info.value)
    assert info.value.exit_code == 4


def test_the_cli_refuses_a_tampered_cut_in_one_line_with_exit_4(cut, tmp_path):
    ok = CliRunner().invoke(main, ["cut", "verify", str(cut.path)])
    assert ok.exit_code == 0 and cut.manifest_sha256 in ok.output
    (cut.path / "metadata.csv").write_text("field_name\nx\n")
    for args in (["cut", "verify", str(cut.path)],
                 ["report", "monthly", "--cut", str(cut.path), "--out", str(tmp_path / "o"),
                  "--no-pdf"],
                 ["cut", "diff", str(cut.path), str(cut.path)]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 4, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "metadata.csv" in lines[0] and "Traceback" not in lines[0]
    assert not (tmp_path / "o" / "monthly_report_2026-10-31.html").exists()


def test_a_cutoff_that_is_not_the_cuts_is_refused(cut, tmp_path):
    result = CliRunner().invoke(main, ["report", "monthly", "--cut", str(cut.path),
                                       "--cutoff", "2026-09-30", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "2026-10-31" in result.output


def test_a_folder_that_is_not_a_cut_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CutIntegrityError, match="no manifest.json"):
        read_cut(tmp_path / "empty")
    with pytest.raises(CutIntegrityError, match="no such folder"):
        read_cut(tmp_path / "absent")


def test_an_existing_cut_is_replaced_only_when_asked(cut, frame, project):
    with pytest.raises(OutputError, match="--replace"):
        cut_from_frame(cut.path, frame, project, cutoff=CUTOFF, created=utc(2026, 11, 3))
    assert read_cut(cut.path).manifest_sha256 == cut.manifest_sha256
    again = cut_from_frame(cut.path, frame.iloc[:-1], project, cutoff=CUTOFF,
                           created=utc(2026, 11, 3), replace=True)
    assert again.manifest_sha256 != cut.manifest_sha256
    assert [p.name for p in cut.path.parent.iterdir()] == ["2026-10-31"]


def test_a_cut_from_an_export_file_with_the_cli(tmp_path, frame):
    export = tmp_path / "records.csv"
    frame.to_csv(export, index=False)
    folder = tmp_path / "cuts" / "2026-10-31"
    args = ["cut", "create", "--cutoff", "2026-10-31", "--records", str(export),
            "--out", str(folder)]
    made = CliRunner().invoke(main, args)
    assert made.exit_code == 0, made.output
    cut = read_cut(folder)
    assert cut.manifest_sha256 in made.output and cut.log_entries is None
    assert cut.info["source"] == str(export)
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 2 and "--replace" in again.output
    assert CliRunner().invoke(main, [*args, "--replace"]).exit_code == 0
    early = CliRunner().invoke(main, ["cut", "create", "--cutoff", "2000-01-31", "--records",
                                      str(export), "--out", str(tmp_path / "early")])
    assert early.exit_code == 2 and "before the first enrolment" in early.output
    assert not (tmp_path / "early").exists()
