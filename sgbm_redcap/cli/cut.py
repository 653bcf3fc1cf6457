"""``sgbm-redcap cut``: freeze the data a report sees, check a cut, compare two cuts.

Exit codes: 0 ok, 1 a failure, 2 usage or configuration error (an existing cut without
``--replace``, two cuts of different projects, a bad option), 4 a cut whose files do not
match its manifest (refused, naming the file).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from sgbm_redcap import jobs
from sgbm_redcap.cli.exits import Group
from sgbm_redcap.cli.options import (
    day,
    force_option,
    project_option,
    source_options,
    study_from,
)

CUT_DIR = click.Path(file_okay=False, path_type=Path)


@click.group(name="cut", cls=Group)
def command() -> None:
    """Data cuts: every report frozen with its data (create, verify, diff)."""


@command.command(name="create")
@click.option("--cutoff", type=click.DateTime(["%Y-%m-%d"]), required=True,
              help="Data cut-off date (YYYY-MM-DD) the cut is made for.")
@click.option("--out", "out_dir", type=CUT_DIR, default=None,
              help="The cut's folder (default: cuts/<cutoff>/).")
@click.option("--replace", is_flag=True, help="Make the cut again if the folder holds one.")
@force_option
@source_options
@project_option
def create(cutoff: datetime, out_dir: Path | None, replace: bool, force: bool,
           config_file: Path | None, url: str | None, sandbox: bool,
           records_file: Path | None, project_dir: Path | None) -> None:
    """Pull the records once and freeze them with the metadata, project setup, log slice
    and versions into a cut folder (files 600, folder 700, sha256 manifest)."""
    study = study_from(config_file, url, sandbox=sandbox, records_file=records_file,
                       project_dir=project_dir)
    cut = jobs.create_cut(study, cutoff=day(cutoff), out_dir=out_dir,  # type: ignore[arg-type]
                          replace=replace, force=force)
    click.echo(f"{cut.path}\tmanifest sha256 {cut.manifest_sha256}")


@command.command(name="verify")
@click.argument("cut", type=CUT_DIR)
def verify(cut: Path) -> None:
    """Check every file of a cut against its manifest (exit 4 naming the file if not)."""
    made = jobs.open_cut(cut)
    click.echo(f"{made.path}: cut-off {made.cutoff.isoformat()}, "
               f"{made.info.get('n_records', '?')} records, manifest sha256 "
               f"{made.manifest_sha256}: every file matches")


@command.command(name="diff")
@click.argument("old", type=CUT_DIR)
@click.argument("new", type=CUT_DIR)
@click.option("--format", "fmt", type=click.Choice(jobs.CUT_DIFF_FORMATS), default="json",
              show_default=True, help="Output format.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the diff to this file (default: standard output).")
def diff(old: Path, new: Path, fmt: str, out: Path | None) -> None:
    """What changed from cut OLD to cut NEW: new patients, derived endpoints, new SAEs,
    AESIs and deaths, retrospective changes, the dictionary."""
    result, text = jobs.diff_cuts(old, new, out=out, fmt=fmt)
    if out is None:
        click.echo(text, nl=False)
    else:
        click.echo(f"{out}\t{result.summary()}")
