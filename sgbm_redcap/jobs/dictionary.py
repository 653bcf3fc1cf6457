"""The dictionary jobs: lint dictionaries, diff two versions of a project, and build the
REDCap Project XML of the study."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sgbm_redcap.dictionary.diff import (
    LEVEL_ORDER,
    DictionaryDiff,
    diff_dictionaries,
    diff_projects,
)
from sgbm_redcap.dictionary.lint import RULES, LintReport, lint_path
from sgbm_redcap.dictionary.odm import build_project_xml
from sgbm_redcap.dictionary.project import StudyProject, default_project_dir, load_any, load_project
from sgbm_redcap.dictionary.translation_lint import TRANSLATION_RULES, lint_translations
from sgbm_redcap.errors import DictionaryError
from sgbm_redcap.jobs.guards import writable_file

__all__ = ["LEVEL_ORDER", "LintRun", "build_xml", "diff", "lint"]

NOTHING_TO_LINT_HELP = ("{path} holds no dictionary: give a dictionary CSV, a folder of CSVs "
                        "or a project folder (project.toml + dictionary).")
NO_SUCH_PATH_HELP = ("{path} does not exist: give a dictionary CSV, a folder of CSVs or a "
                     "project folder (project.toml + dictionary).")


@dataclass
class LintRun:
    """The lint reports of every file, and their totals."""

    reports: list[LintReport]
    totals: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def n_errors(self) -> int:
        return sum(len(r.errors) for r in self.reports)

    @property
    def n_warnings(self) -> int:
        return sum(len(r.warnings) for r in self.reports)

    def summary_rows(self) -> list[tuple[str, str, int, str]]:
        """(severity, rule, count, rule title), sorted."""
        rules = {**RULES, **TRANSLATION_RULES}
        return [(severity, rule, n, rules[rule].title)
                for (severity, rule), n in sorted(self.totals.items())]


def lint(paths: tuple[Path, ...] | list[Path]) -> LintRun:
    """Lint every dictionary named: a CSV, a folder of CSVs, or a project folder (then with
    its repeating forms, and its translations against the dictionary). A missing path or a folder with nothing to lint is refused (``DictionaryError``)."""
    reports: list[LintReport] = []
    for path in paths:
        if not path.exists():
            raise DictionaryError(NO_SUCH_PATH_HELP.format(path=path), file=str(path))
        if path.is_dir() and (path / "project.toml").exists():
            project = load_project(path)
            reports.append(lint_path(project.dictionary.source,
                                     repeating_forms=project.repeating_forms,
                                     missing_codes=project.missing_codes))
            reports.extend(lint_translations(project))
        elif path.is_dir():
            found = sorted(path.glob("*.csv"))
            if not found:
                raise DictionaryError(NOTHING_TO_LINT_HELP.format(path=path), file=str(path))
            reports.extend(lint_path(p) for p in found)
        else:
            reports.append(lint_path(path))
    run = LintRun(reports)
    for r in reports:
        run.totals.update(r.counts())
    return run


def diff(old: Path, new: Path) -> DictionaryDiff:
    """Classify every change from ``old`` to ``new`` (dictionary CSVs, Project XML files or
    project folders; two projects compare their repeating setup, DAGs and version too)."""
    a, b = load_any(old), load_any(new)
    if isinstance(a, StudyProject) and isinstance(b, StudyProject):
        return diff_projects(a, b)
    return diff_dictionaries(a.dictionary if isinstance(a, StudyProject) else a,
                             b.dictionary if isinstance(b, StudyProject) else b)


@dataclass
class ProjectXml:
    """The Project XML of a project, or the lint errors that stop it being built."""

    project: StudyProject
    xml: str
    errors: list[object]


def build_xml(project_dir: Path | None = None, *, output: Path | None = None) -> ProjectXml:
    """The REDCap Project XML (CDISC ODM 1.3.1) of ``project_dir`` (default: this
    repository's ``redcap_project/``), written to ``output`` when given. A dictionary with
    lint errors is not built (``errors`` lists them, ``xml`` is empty)."""
    if output is not None:
        writable_file(output, option="--output")
    project = load_project(project_dir or default_project_dir())
    report = lint_path(project.dictionary.source, repeating_forms=project.repeating_forms,
                       missing_codes=project.missing_codes)
    if report.errors:
        return ProjectXml(project, "", list(report.errors))
    xml = build_project_xml(project)
    if output is not None:
        output.write_text(xml, encoding="utf-8")
    return ProjectXml(project, xml, [])
