"""The jobs layer: the Study handle, where records come from, the door checks, the one
HTML (+ PDF) writer."""

from __future__ import annotations

import shutil
from datetime import date

import pandas as pd
import pytest

from sgbm_redcap import jobs
from sgbm_redcap.dictionary.project import default_project_dir, load_project
from sgbm_redcap.errors import ConfigError, OutputError
from sgbm_redcap.jobs.guards import (
    check_cutoff_after_enrolment,
    check_cutoff_not_future,
    first_enrolment,
    writable_dir,
)
from sgbm_redcap.reports.pdf import write_html_pdf


@pytest.fixture(autouse=True)
def elsewhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SGBM_REDCAP_REDCAP_URL", raising=False)


def test_a_study_is_the_repository_project_with_the_settings():
    study = jobs.load_study(timeout_s=12)
    project = load_project(default_project_dir())
    assert study.version == project.version and study.dags == project.dags
    assert study.repeating_forms == project.repeating_forms
    assert study.settings.timeout_s == 12 and study.sandbox is False


def test_the_project_follows_the_settings_dictionary(tmp_path):
    folder = tmp_path / "my_project"
    shutil.copytree(default_project_dir(), folder)
    text = (folder / "project.toml").read_text().replace('version = "', 'version = "9.')
    (folder / "project.toml").write_text(text)
    assert jobs.load_study(dictionary_path=folder / "data_dictionary.csv").version.startswith(
        "9.")
    lines = (folder / "data_dictionary.csv").read_text(encoding="utf-8").splitlines()
    alone = tmp_path / "alone.csv"   # no project.toml beside it; its last field left out
    alone.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    study = jobs.load_study(dictionary_path=alone)
    repository = load_project(default_project_dir())
    assert study.version == repository.version
    last = repository.dictionary.fields[-1].name
    assert study.dictionary.get(last) is None and len(study.dictionary) == \
        len(repository.dictionary) - 1


def test_no_redcap_and_no_sandbox_is_a_configuration_error():
    with pytest.raises(ConfigError, match="--sandbox") as info, jobs.load_study().connect():
        pass
    assert info.value.setting == "redcap_url"


def test_a_records_file_needs_no_redcap(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("record_id\n1\n")
    with jobs.load_study(records_file=path).connect() as conn:
        assert conn.description == str(path) and not conn.embedded


def test_the_cutoff_guards():
    check_cutoff_not_future(date(2026, 1, 1), today=date(2026, 1, 1))
    with pytest.raises(ConfigError, match="in the future"):
        check_cutoff_not_future(date(2026, 1, 2), today=date(2026, 1, 1))
    check_cutoff_not_future(date(2026, 1, 2), today=date(2026, 1, 1), force=True)
    raw = pd.DataFrame({"enrol_date": ["", "2025-03-04", "2025-02-01"]})
    assert first_enrolment(raw) == date(2025, 2, 1)
    assert first_enrolment(pd.DataFrame({"x": ["1"]})) is None
    check_cutoff_after_enrolment(date(2025, 2, 1), raw)
    with pytest.raises(ConfigError, match=r"before the first enrolment \(2025-02-01\)"):
        check_cutoff_after_enrolment(date(2025, 1, 31), raw)
    check_cutoff_after_enrolment(date(2025, 1, 31), raw, force=True)


def test_writable_dir_creates_or_refuses(tmp_path):
    assert writable_dir(tmp_path / "a" / "b").is_dir()
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="cannot write to --listings") as info:
        writable_dir(tmp_path / "f" / "sub", option="--listings")
    assert info.value.option == "--listings"


def test_the_one_html_pdf_writer(tmp_path):
    html = "<html><body><p>cut-off</p></body></html>"
    only = write_html_pdf(html, tmp_path / "x" / "codebook_1.0.1", pdf=False)
    assert only == [tmp_path / "x" / "codebook_1.0.1.html"]   # dots kept in the stem
    assert only[0].read_text() == html
    both = write_html_pdf(html, tmp_path / "y" / "r", pdf=True)
    assert [p.name for p in both] == ["r.html", "r.pdf"]
    assert both[1].read_bytes().startswith(b"%PDF")
