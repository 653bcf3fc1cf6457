"""``sgbm-redcap sandbox``: run the local REDCap API sandbox.

``serve`` is built here; the cohort engineer adds ``seed`` below (see the marked place).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import click

log = logging.getLogger(__name__)


@click.group(name="sandbox")
def command() -> None:
    """A local REDCap API emulator that PyCap talks to unchanged."""


@command.command("serve")
@click.option("--port", type=int, default=8765, show_default=True,
              help="TCP port on 127.0.0.1 (0 = any free port).")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="Sandbox directory (its SQLite file lives here).")
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
    from sgbm_redcap.sandbox import FaultPlan, Sandbox
    from sgbm_redcap.sandbox.server import api_url, make_server

    sb = Sandbox(data_dir)
    if public_url:
        sb.set_public_url(public_url)
    if super_token:
        if len(super_token) != 64 or not all(c in "0123456789abcdefABCDEF" for c in super_token):
            raise click.UsageError("--super-token must be 64 hexadecimal characters")
        sb.register_super_token(super_token.upper())
    if faults_json:
        try:
            sb.set_faults(FaultPlan(**json.loads(faults_json)))
        except (ValueError, TypeError) as exc:
            raise click.UsageError(f"--faults: {exc}") from exc
    server = make_server(sb, port)
    click.echo(f"REDCap API sandbox at {api_url(server)} (data: {data_dir}); Ctrl-C stops it.")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@command.command("create-project")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              required=True)
@click.option("--dictionary", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help="Data dictionary CSV.")
@click.option("--repeating", multiple=True, help="A repeating instrument (repeatable option).")
@click.option("--dag", multiple=True, help="A DAG label (repeatable option).")
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the new project's API token (mode 600); never printed.")
def create_project(data_dir: Path, dictionary: Path, repeating: tuple[str, ...],
                   dag: tuple[str, ...], token_file: Path) -> None:
    """Create a project from a dictionary; the token goes to --token-file only."""
    from sgbm_redcap.sandbox import Sandbox

    token = Sandbox(data_dir).create_project(dictionary, repeating_forms=repeating, dags=dag)
    token_file.write_text(token + "\n", encoding="utf-8")
    os.chmod(token_file, 0o600)
    click.echo(f"project created; token written to {token_file}")


# ---------------------------------------------------------------------------------------
# `sandbox seed` (cohort engineer): add it here as `@command.command("seed")`.
# ---------------------------------------------------------------------------------------


@command.command("seed")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="Sandbox directory (its SQLite file lives here).")
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
def seed(data_dir: Path, n: int, seed: int | None, problem_rate: float, extract_date,
         project_dir: Path | None, manifest_path: Path | None, token_file: Path | None) -> None:
    """Build the study project in a sandbox and load a synthetic cohort into it."""
    import dataclasses

    from sgbm_redcap.errors import SgbmRedcapError
    from sgbm_redcap.sandbox import Sandbox
    from sgbm_redcap.synthetic.cohort import DEFAULT_EXTRACT_DATE, DEFAULT_SEED
    from sgbm_redcap.synthetic.seed import seed_study

    try:
        study = seed_study(
            Sandbox(data_dir), n=n, seed=DEFAULT_SEED if seed is None else seed,
            problem_rate=problem_rate, project_dir=project_dir,
            extract_date=extract_date.date() if extract_date else DEFAULT_EXTRACT_DATE)
    except SgbmRedcapError as exc:
        raise click.ClickException(str(exc)) from exc
    if manifest_path:
        manifest_path.write_text(json.dumps([dataclasses.asdict(p) for p in study.manifest],
                                            indent=1) + "\n", encoding="utf-8")
    if token_file:
        token_file.write_text(study.token + "\n", encoding="utf-8")
        os.chmod(token_file, 0o600)
    click.echo(f"seeded {len(study.cohort.dags)} records across "
               f"{len(set(study.cohort.dags.values()))} sites with {len(study.manifest)} planted "
               f"problems into {data_dir}"
               + (f"; token written to {token_file}" if token_file else ""))
