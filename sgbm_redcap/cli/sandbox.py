"""``sgbm-redcap sandbox``: run the local REDCap API sandbox, create a project in it, seed
it with the study and the synthetic cohort. Exit codes: 0 ok, 1 failure, 2 usage."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from sgbm_redcap import jobs
from sgbm_redcap.cli.exits import Group

DATA_HELP = "Sandbox directory (its SQLite file lives here)."


@click.group(name="sandbox", cls=Group)
def command() -> None:
    """A local REDCap API emulator that PyCap talks to unchanged."""


@command.command("serve")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="TCP port on 127.0.0.1 (0 = any free port).")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              required=True, help=DATA_HELP)
@click.option("--super-token", envvar="SGBM_SANDBOX_SUPER_TOKEN", default=None,
              help="64-hex super token that may create projects (content=project). "
                   "Prefer the SGBM_SANDBOX_SUPER_TOKEN environment variable to argv.")
@click.option("--public-url", default=None,
              help="Base URL survey links start with, e.g. https://redcap.example.org/")
@click.option("--faults", "faults_json", default=None,
              help='Fault plan as JSON, e.g. \'{"error_rate":0.1,"seed":1}\'.')
def serve(port: int, data_dir: Path, super_token: str | None, public_url: str | None,
          faults_json: str | None) -> None:
    """Serve the sandbox at http://127.0.0.1:PORT/api/ until interrupted."""
    server = jobs.sandbox_server(data_dir, port=port, super_token=super_token,
                                 public_url=public_url, faults_json=faults_json)
    click.echo(f"REDCap API sandbox at {jobs.sandbox_url(server)} (data: {data_dir}); "
               "Ctrl-C stops it.")
    jobs.serve_until_interrupted(server)


@command.command("create-project")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              required=True, help=DATA_HELP)
@click.option("--dictionary", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help="Data dictionary CSV.")
@click.option("--repeating", multiple=True, help="A repeating instrument (repeatable option).")
@click.option("--dag", multiple=True, help="A DAG label (repeatable option).")
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the new project's API token (mode 600); never printed.")
def create_project(data_dir: Path, dictionary: Path, repeating: tuple[str, ...],
                   dag: tuple[str, ...], token_file: Path) -> None:
    """Create a project from a dictionary; the token goes to --token-file only."""
    jobs.create_sandbox_project(data_dir, dictionary, repeating=repeating, dags=dag,
                                token_file=token_file)
    click.echo(f"project created; token written to {token_file}")


@command.command("seed")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              required=True, help=DATA_HELP)
@click.option("--n", "n", type=click.IntRange(min=1), default=100, show_default=True,
              help="Number of screened patients (records).")
@click.option("--seed", "seed", type=int, default=None,
              help="Cohort seed (default: the study's fixed seed, 20240801).")
@click.option("--problem-rate", type=click.FloatRange(0.0, 1.0), default=0.1,
              show_default=True, help="Share of records with one planted data problem.")
@click.option("--extract-date", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Data extract date; no generated date is later (default 2026-11-25).")
@click.option("--project-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, help="The study project directory (default: redcap_project/).")
@click.option("--manifest", "manifest_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write the planted-problem manifest here (JSON).")
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the new project's API token here (mode 600); it is never printed.")
def seed(data_dir: Path, n: int, seed: int | None, problem_rate: float,
         extract_date: datetime | None, project_dir: Path | None, manifest_path: Path | None,
         token_file: Path | None) -> None:
    """Build the study project in a sandbox and load a synthetic cohort into it."""
    study = jobs.seed_sandbox(data_dir, n=n, seed=seed, problem_rate=problem_rate,
                              extract_date=extract_date.date() if extract_date else None,
                              project_dir=project_dir, manifest_path=manifest_path,
                              token_file=token_file)
    click.echo(f"seeded {len(study.cohort.dags)} records across "
               f"{len(set(study.cohort.dags.values()))} sites with {len(study.manifest)} planted "
               f"problems into {data_dir}"
               + (f"; token written to {token_file}" if token_file else ""))
