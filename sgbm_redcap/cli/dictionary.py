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
from pathlib import Path

import click

from sgbm_redcap import jobs
from sgbm_redcap.cli.exits import Group


@click.group(name="dictionary", cls=Group)
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
    run = jobs.lint_dictionaries(paths)
    if fmt == "json":
        click.echo(json.dumps({"files": [r.to_dict() for r in run.reports],
                               "errors": run.n_errors, "warnings": run.n_warnings},
                              indent=1, ensure_ascii=False))
    else:
        for r in run.reports:
            if not summary:
                for issue in r.issues:
                    click.echo(str(issue))
            click.echo(f"{r.file}: {r.n_fields} fields, {len(r.errors)} errors, "
                       f"{len(r.warnings)} warnings"
                       + ("" if r.logic_parser else " (logic checked without the parser)"))
        if summary or len(run.reports) > 1:
            for severity, rule, n, title in run.summary_rows():
                click.echo(f"  {severity:7} {rule:28} {n:6}  {title}")
        if len(run.reports) > 1:
            click.echo(f"{len(run.reports)} files: {run.n_errors} errors, "
                       f"{run.n_warnings} warnings")
    sys.exit(1 if run.n_errors or (strict and run.n_warnings) else 0)


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
    result = jobs.diff_dictionaries(old, new)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=1, ensure_ascii=False))
    else:
        order = jobs.DIFF_LEVELS
        for change in sorted(result.changes, key=lambda c: -order[c.level]):
            if show_all or change.level != "safe":
                click.echo(str(change))
        counts = ", ".join(f"{len(result.by_level(lv))} {lv}" for lv in order)
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
    built = jobs.build_project_xml(project_dir, output=output)
    if built.errors:
        for issue in built.errors:
            click.echo(str(issue), err=True)
        click.echo("refusing to build a project from a dictionary with errors", err=True)
        sys.exit(1)
    project = built.project
    if output is None:
        click.echo(built.xml, nl=False)
    else:
        click.echo(f"wrote {output} ({len(project.dictionary)} fields, "
                   f"{len(project.dictionary.forms)} instruments, "
                   f"{len(project.repeating_forms)} repeating, {len(project.dags)} DAGs, "
                   f"version {project.version})", err=True)
