"""``sgbm-redcap dictionary``: lint, diff and build the study's REDCap project definition.

Exit codes
  lint       0 no errors (warnings allowed unless --strict), 1 errors, 2 usage error
  diff       0 no change or only safe changes, 1 changes that need review,
             3 changes that destroy data, 2 usage error or unreadable file
  build-xml  0 written, 1 the dictionary has lint errors, 2 usage error
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import click

from sgbm_redcap.dictionary.diff import LEVEL_ORDER, diff_dictionaries, diff_projects
from sgbm_redcap.dictionary.lint import RULES, LintReport, lint_path
from sgbm_redcap.dictionary.odm import build_project_xml
from sgbm_redcap.dictionary.project import (
    StudyProject,
    default_project_dir,
    load_any,
    load_project,
)
from sgbm_redcap.errors import DictionaryError


@click.group(name="dictionary")
def command() -> None:
    """The REDCap data dictionary: lint, diff two versions, build the Project XML."""


@command.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json: one object with a report per file.")
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too.")
@click.option("--summary", is_flag=True, help="Only the counts by rule, not every issue.")
def lint(paths: tuple[Path, ...], fmt: str, strict: bool, summary: bool) -> None:
    """Check dictionaries against REDCap's upload rules and good practice.

    Every issue names the row (header = 1), column, rule id and a fix."""
    reports: list[LintReport] = []
    for path in paths:
        if path.is_dir() and (path / "project.toml").exists():
            try:
                project = load_project(path)
                reports.append(lint_path(project.dictionary.source,
                                         repeating_forms=project.repeating_forms))
            except DictionaryError as exc:
                click.echo(f"error: {exc}", err=True)
                sys.exit(2)
        elif path.is_dir():
            reports.extend(lint_path(p) for p in sorted(path.glob("*.csv")))
        else:
            reports.append(lint_path(path))
    n_errors = sum(len(r.errors) for r in reports)
    n_warnings = sum(len(r.warnings) for r in reports)
    if fmt == "json":
        click.echo(json.dumps({"files": [r.to_dict() for r in reports], "errors": n_errors,
                               "warnings": n_warnings}, indent=1, ensure_ascii=False))
    else:
        totals: Counter[tuple[str, str]] = Counter()
        for r in reports:
            totals.update(r.counts())
            if not summary:
                for issue in r.issues:
                    click.echo(str(issue))
            click.echo(f"{r.file}: {r.n_fields} fields, {len(r.errors)} errors, "
                       f"{len(r.warnings)} warnings"
                       + ("" if r.logic_parser else " (logic checked without the parser)"))
        if summary or len(reports) > 1:
            for (severity, rule), n in sorted(totals.items()):
                click.echo(f"  {severity:7} {rule:28} {n:6}  {RULES[rule].title}")
        if len(reports) > 1:
            click.echo(f"{len(reports)} files: {n_errors} errors, {n_warnings} warnings")
    sys.exit(1 if n_errors or (strict and n_warnings) else 0)


@command.command()
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--all", "show_all", is_flag=True, help="List safe changes too.")
def diff(old: Path, new: Path, fmt: str, show_all: bool) -> None:
    """Classify every change from OLD to NEW: safe, review, or destroys data.

    OLD and NEW are dictionary CSVs, REDCap Project XML files, or project folders
    (project.toml + dictionary); with two projects the repeating setup, DAGs and version
    are compared too. Exit 0 safe (or no change), 1 needs review, 3 destroys data,
    2 unreadable input."""
    try:
        a, b = load_any(old), load_any(new)
        if isinstance(a, StudyProject) and isinstance(b, StudyProject):
            result = diff_projects(a, b)
        else:
            result = diff_dictionaries(a.dictionary if isinstance(a, StudyProject) else a,
                                       b.dictionary if isinstance(b, StudyProject) else b)
    except DictionaryError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=1, ensure_ascii=False))
    else:
        ordered = sorted(result.changes, key=lambda c: -LEVEL_ORDER[c.level])
        for change in ordered:
            if show_all or change.level != "safe":
                click.echo(str(change))
        counts = ", ".join(f"{len(result.by_level(lv))} {lv}" for lv in LEVEL_ORDER)
        click.echo(f"{old} → {new}: {counts}; overall: {result.level or 'no change'}")
    sys.exit(result.exit_code)


@command.command("build-xml")
@click.option("--project-dir", type=click.Path(path_type=Path, file_okay=False),
              default=None, help="Folder with project.toml and the dictionary "
              "(default: the repository's redcap_project/).")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="Write here (default: stdout).")
def build_xml(project_dir: Path | None, output: Path | None) -> None:
    """Write the REDCap Project XML (CDISC ODM 1.3.1) that creates the whole study project
    — instruments, repeating setup, DAGs — in one upload."""
    directory = project_dir or default_project_dir()
    try:
        project = load_project(directory)
    except DictionaryError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    report = lint_path(project.dictionary.source, repeating_forms=project.repeating_forms)
    if report.errors:
        for issue in report.errors:
            click.echo(str(issue), err=True)
        click.echo("refusing to build a project from a dictionary with errors", err=True)
        sys.exit(1)
    xml = build_project_xml(project)
    if output is None:
        click.echo(xml, nl=False)
    else:
        output.write_text(xml, encoding="utf-8")
        click.echo(f"wrote {output} ({len(project.dictionary)} fields, "
                   f"{len(project.dictionary.forms)} instruments, "
                   f"{len(project.repeating_forms)} repeating, {len(project.dags)} DAGs, "
                   f"version {project.version})", err=True)
