"""The study's facts have one home: ``redcap_project/project.toml`` read through
``StudyProject``. No module spells the registry id itself, and the study's month is defined
once."""

from __future__ import annotations

import ast
import re
from pathlib import Path

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from sgbm_redcap.dictionary.project import default_project_dir, load_project, study_project

ROOT = Path(__file__).resolve().parents[1]
TOML = tomllib.loads((ROOT / "redcap_project" / "project.toml").read_text(encoding="utf-8"))
NCT = TOML["project"]["nct"]


def _python_files() -> list[Path]:
    return sorted([*(ROOT / "sgbm_redcap").rglob("*.py"), *(ROOT / "tests").rglob("*.py")])


def test_the_project_exposes_title_short_name_and_nct_from_project_toml():
    project = load_project(ROOT / "redcap_project")
    assert re.fullmatch(r"NCT\d{8}", NCT)
    assert (project.title, project.short_name, project.nct) == (
        TOML["project"]["title"], TOML["project"]["short_name"], NCT)
    assert project.repeating_forms == TOML["repeating"]["forms"]
    assert default_project_dir() == ROOT / "redcap_project"
    assert study_project() is study_project()  # read once per process
    assert study_project().nct == NCT


def test_no_python_file_spells_the_registry_id():
    files = _python_files()
    assert len(files) > 50 and Path(__file__).resolve() in files
    hits = [str(p.relative_to(ROOT)) for p in files if NCT in p.read_text(encoding="utf-8")]
    assert hits == []


def test_days_per_month_is_defined_once():
    definitions = []
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            targets = (node.targets if isinstance(node, ast.Assign)
                       else [node.target] if isinstance(node, ast.AnnAssign) else [])
            if any(isinstance(t, ast.Name) and t.id == "DAYS_PER_MONTH" for t in targets):
                definitions.append(str(path.relative_to(ROOT)))
    assert definitions == ["sgbm_redcap/study_codes.py"]

    from sgbm_redcap.study_codes import DAYS_PER_MONTH

    assert DAYS_PER_MONTH == 365.25 / 12


def test_every_module_takes_the_repeating_forms_from_the_project():
    import pandas as pd

    from sgbm_redcap.analysis.inputs import REPEATING_FORMS as ANALYSIS
    from sgbm_redcap.checks.context import CheckContext
    from sgbm_redcap.synthetic.cohort import REPEATING_FORMS as COHORT

    forms = TOML["repeating"]["forms"]
    assert list(COHORT) == forms
    assert ANALYSIS == set(forms)
    raw = pd.DataFrame({"record_id": ["1"], "redcap_repeat_instrument": [""]})
    assert CheckContext(raw).repeating_forms == set(forms)
    assert CheckContext(raw, repeating_forms={"x"}).repeating_forms == {"x"}


def test_enrolment_target_and_start_come_from_project_toml(tmp_path):
    import shutil
    from datetime import date

    import pytest

    from sgbm_redcap.errors import DictionaryError

    project = load_project(ROOT / "redcap_project")
    assert project.enrolment_target == TOML["project"]["enrolment_target"] > 0
    assert isinstance(project.enrolment_start, date)
    copy = tmp_path / "p"
    shutil.copytree(ROOT / "redcap_project", copy)
    toml = copy / "project.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(text.replace("enrolment_target = 100", "enrolment_target = 7"), "utf-8")
    assert load_project(copy).enrolment_target == 7
    toml.write_text(text.replace("enrolment_target = 100", 'enrolment_target = "many"'),
                    "utf-8")
    with pytest.raises(DictionaryError, match="enrolment_target"):
        load_project(copy)
    toml.write_text(text.replace("enrolment_start = 2024-08-01",
                                 'enrolment_start = "August"'), "utf-8")
    with pytest.raises(DictionaryError, match="enrolment_start"):
        load_project(copy)
