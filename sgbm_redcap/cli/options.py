"""Options that several ``sgbm-redcap`` commands share, as decorators, and the study they
describe (:func:`study_from`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from sgbm_redcap import jobs

F = TypeVar("F", bound=Callable[..., Any])


def _stack(*options: Callable[[F], F]) -> Callable[[F], F]:
    def decorate(fn: F) -> F:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


config_option = click.option(
    "--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Settings file (default: ./sgbm_redcap.toml if present).")
url_option = click.option("--url", default=None,
                          help="REDCap API URL, ending in /api/ (default: from the settings).")
sandbox_option = click.option(
    "--sandbox", is_flag=True,
    help="With no REDCap URL: use the embedded sandbox REDCap with the SYNTHETIC cohort.")
records_option = click.option(
    "--records", "records_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None, help="Read a flat records export (CSV/JSON) instead of REDCap.")
project_option = click.option(
    "--project", "project_dir", type=click.Path(file_okay=False, path_type=Path),
    default=None, help="The versioned REDCap project folder (dictionary, project.toml; "
    "default: the folder of the settings' dictionary_path, else redcap_project/).")
force_option = click.option(
    "--force", is_flag=True,
    help="Accept a cut-off in the future or before the first enrolment.")
no_pdf_option = click.option("--no-pdf", is_flag=True, help="Write the HTML only.")

#: where the records come from: the configured REDCap, --url, --sandbox, or a file
source_options = _stack(config_option, url_option, sandbox_option, records_option)


def cutoff_option(help: str) -> Callable[[F], F]:  # noqa: A002 - click's name
    return click.option("--cutoff", type=click.DateTime(["%Y-%m-%d"]), default=None,
                        help=help)


def out_dir_option(default: Path | None = Path("out"),
                   help: str = "Folder for the output files.") -> Callable[[F], F]:  # noqa: A002
    return click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
                        default=default, show_default=default is not None, help=help)


def out_csv_option(help: str) -> Callable[[F], F]:  # noqa: A002
    return click.option("--out", "out_csv", type=click.Path(dir_okay=False, path_type=Path),
                        default=None, help=help)


def day(value: datetime | None) -> date | None:
    """A click DateTime as a date."""
    return value.date() if value else None


def study_from(config_file: Path | None = None, url: str | None = None, *,
               sandbox: bool = False, records_file: Path | None = None,
               project_dir: Path | None = None, **overrides: Any) -> jobs.Study:
    """The study the shared options describe; the synthetic-data banner goes to stderr."""
    return jobs.load_study(config_file, project_dir=project_dir, records_file=records_file,
                           sandbox=sandbox, notice=lambda text: click.echo(text, err=True),
                           redcap_url=url, **overrides)


_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class TimeOfDay(click.ParamType):
    """HH:MM, 00:00 to 23:59."""

    name = "HH:MM"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> str:
        text = str(value).strip()
        if not _TIME.match(text):
            self.fail(f"{value!r} is not a time of day (HH:MM, 00:00 to 23:59)", param, ctx)
        return text


#: ``checks redcap-dq``: which rules, custom rules and exclusions, whose view, listings
dq_options = _stack(
    click.option("--rule", "rules", multiple=True, metavar="A..I|N|custom",
                 help="A pre-defined rule (A to I), a custom rule number, or 'custom' for "
                      "every custom rule; repeatable (default: all, REDCap's 'All')."),
    click.option("--rules-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                 default=None, help="Custom rules: REDCap's Data Quality rules CSV "
                 "(rule_name, rule_logic, real_time_execute) or a Project XML."),
    click.option("--exclusions", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                 default=None, help="CSV of excluded discrepancies (rule, record, "
                 "redcap_event_name, redcap_repeat_instrument, redcap_repeat_instance, field)."),
    click.option("--user", default=None,
                 help="Run with this REDCap user's DAG and instrument rights."),
    click.option("--csv", "out_csv", type=click.Path(dir_okay=False, path_type=Path),
                 default=None, help="Write the discrepancies to this CSV."),
    click.option("--json", "out_json", type=click.Path(dir_okay=False, path_type=Path),
                 default=None, help="Write the table and the discrepancies to this JSON."),
)
