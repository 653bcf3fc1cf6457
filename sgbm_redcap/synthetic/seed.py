"""Build the SG-BM-RWS study project in a sandbox and load a synthetic cohort into it.

``seed_study(target, n=..., seed=..., problem_rate=...)`` reads ``redcap_project/``
(dictionary, repeating instruments, DAGs), creates the project, then imports the cohort the
way a site's data would arrive: with PyCap, over the REDCap API, in batches of whole records,
each record placed in its site's Data Access Group (``redcap_data_access_group``).

``target`` is either a :class:`~sgbm_redcap.sandbox.Sandbox` (the project is created through
its Python API) or the ``/api/`` URL of a running sandbox plus a 64-character super token (the
project is created with ``content=project``, then set up with metadata, repeating-instrument
and DAG imports).

Planted invalid choice codes cannot pass REDCap's import validation, so, as happens in real
projects when a choice is retired after data entry, the project first gets a dictionary
whose choice lists still hold the planted codes, and the study dictionary is deployed over it
once the records are in.  The token is returned, never logged.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import requests

from sgbm_redcap.dictionary.model import COLUMNS
from sgbm_redcap.errors import ConfigError, RedcapApiError
from sgbm_redcap.synthetic.cohort import (
    DEFAULT_EXTRACT_DATE,
    DEFAULT_SEED,
    Cohort,
    PlantedProblem,
    generate_cohort,
)

if TYPE_CHECKING:
    from sgbm_redcap.sandbox.core import Sandbox

log = logging.getLogger(__name__)

#: redcap_project/ next to the package when running from a checkout.
DEFAULT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "redcap_project"
#: How many sites of the project's DAG list the cohort uses (the issue asks for 4-6).
DEFAULT_SITES = 5


@dataclass
class SeededStudy:
    """What :func:`seed_study` made.  Unpacks as ``url, token = seed_study(...)``."""

    url: str
    token: str = field(repr=False)
    cohort: Cohort = field(repr=False)

    @property
    def manifest(self) -> list[PlantedProblem]:
        return self.cohort.manifest

    def __iter__(self) -> Iterator[str]:
        yield self.url
        yield self.token


def seed_study(
    target: Sandbox | str,
    *,
    n: int = 100,
    seed: int = DEFAULT_SEED,
    problem_rate: float = 0.1,
    project_dir: str | Path | None = None,
    extract_date: date = DEFAULT_EXTRACT_DATE,
    n_sites: int = DEFAULT_SITES,
    super_token: str | None = None,
    api_url: str | None = None,
    batch_size: int = 200,
    cohort: Cohort | None = None,
) -> SeededStudy:
    """Create the study project in a sandbox and import a generated cohort into it.

    Args:
        target: a ``Sandbox``, or the ``http://127.0.0.1:PORT/api/`` URL of a running one.
        super_token: needed when ``target`` is a URL (creates the project over the API).
        api_url: for a ``Sandbox`` target already being served, its URL; without it the
            records travel over a temporary loopback server that is gone on return (the
            returned ``url`` is then that server's and no longer answers).
        batch_size: records (not rows) per import request.
        cohort: import this cohort instead of generating one from n/seed/problem_rate.
    """
    from sgbm_redcap.dictionary.project import load_project

    project = load_project(project_dir or DEFAULT_PROJECT_DIR)
    if not project.dags:
        raise ConfigError("project.toml lists no DAGs; the cohort needs one per site",
                          setting="dags", source=str(project.path))
    dictionary_path = _dictionary_path(project)
    sites = project.dags[: max(1, min(n_sites, len(project.dags)))]
    if cohort is None:
        cohort = generate_cohort(n, seed, problem_rate, extract_date=extract_date, sites=sites)
    study_csv = dictionary_path.read_text(encoding="utf-8")
    import_csv = widen_choices(study_csv, cohort.retired_codes)

    from sgbm_redcap.sandbox.core import Sandbox

    if isinstance(target, Sandbox):
        token = target.create_project(
            import_csv.encode("utf-8"), repeating_forms=project.repeating_forms,
            dags=list(project.dags), title=project.title or project.short_name,
            settings={"missing_data_codes": project.missing_codes.to_project_info()})
        serving = nullcontext(api_url) if api_url else _served(target)
        with serving as url:
            _load(url, token, cohort, study_csv, import_csv != study_csv, batch_size)
        return SeededStudy(url, token, cohort)
    if not isinstance(target, str):
        raise TypeError(f"target must be a Sandbox or an API URL, not {type(target).__name__}")
    if not super_token:
        raise ConfigError("creating a project over the API needs a super token",
                          setting="super_token")
    token = _create_over_api(target, super_token, project.title or project.short_name)
    proj = _pycap(target, token)
    proj.import_metadata(api_metadata(import_csv), import_format="json")
    proj.import_repeating_instruments_events(
        [{"form_name": f, "custom_form_label": project.repeating_labels.get(f, "")}
         for f in project.repeating_forms])
    proj.import_dags([{"data_access_group_name": label, "unique_group_name": ""}
                      for _unique, label in project.dags])
    if project.missing_codes:  # REDCap's "Import Project Information" sets them
        _import_project_info(target, token,
                             {"missing_data_codes": project.missing_codes.to_project_info()})
    _load(target, token, cohort, study_csv, import_csv != study_csv, batch_size)
    return SeededStudy(target, token, cohort)


def widen_choices(dictionary_csv: str, extra: dict[str, set[str]]) -> str:
    """The dictionary with each field's choice list extended by ``extra[field]`` codes
    (labelled "Retired code N"), so records holding those codes pass import validation."""
    if not extra:
        return dictionary_csv
    rows = list(csv.reader(io.StringIO(dictionary_csv)))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(rows[0])
    for row in rows[1:]:
        codes = extra.get(row[0]) if row else None
        if codes:
            choices = [c for c in row[5].split("|") if c.strip()]
            row = list(row)
            row[5] = " | ".join([c.strip() for c in choices] +
                                [f"{code}, Retired code {code}" for code in sorted(codes)])
        writer.writerow(row)
    return out.getvalue()




def api_metadata(dictionary_csv: str) -> list[dict[str, str]]:
    """A dictionary CSV (UI headers) as the rows ``content=metadata`` imports in JSON."""
    rows = list(csv.reader(io.StringIO(dictionary_csv)))
    return [dict(zip(COLUMNS, (list(r) + [""] * 18)[:18], strict=True))
            for r in rows[1:] if r and r[0].strip()]


def import_rows(cohort: Cohort) -> list[list[dict[str, str]]]:
    """The cohort's rows grouped per record, each base row carrying its DAG."""
    grouped: dict[str, list[dict[str, str]]] = {}
    for row in cohort.records:
        rows = grouped.setdefault(row["record_id"], [])
        if row["redcap_repeat_instrument"] == "":
            row = dict(row, redcap_data_access_group=cohort.dags[row["record_id"]])
        rows.append(row)
    return list(grouped.values())


# -- internals -------------------------------------------------------------------------------

def _dictionary_path(project) -> Path:
    base = Path(project.path) if project.path else DEFAULT_PROJECT_DIR
    if base.is_file():
        base = base.parent
    candidates = [base / "data_dictionary.csv", *sorted(base.glob("*dictionary*.csv"))]
    for path in candidates:
        if path.is_file():
            return path
    raise ConfigError("no data dictionary CSV in the project directory", setting="dictionary",
                      source=str(base))


@contextmanager
def _served(sandbox) -> Iterator[str]:
    from sgbm_redcap.sandbox.server import serve_in_thread

    with serve_in_thread(sandbox, port=0) as url:
        yield url


def _pycap(url: str, token: str):
    import redcap

    return redcap.Project(url, token)


def _load(url: str, token: str, cohort: Cohort, study_csv: str, widened: bool,
          batch_size: int) -> None:
    proj = _pycap(url, token)
    records = import_rows(cohort)
    total = 0
    for start in range(0, len(records), max(1, batch_size)):
        batch = [row for rows in records[start:start + batch_size] for row in rows]
        try:
            result = proj.import_records(batch, import_format="json", overwrite="normal",
                                         return_content="count")
        except requests.RequestException as exc:  # PyCap's RedcapError is one of these
            raise RedcapApiError(f"importing cohort records {start + 1}..: {exc}",
                                 call="import_records", redcap_message=str(exc)) from exc
        total += int(result.get("count", 0)) if isinstance(result, dict) else 0
    log.info("seeded %d records (%d rows) in %d requests", total, len(cohort.records),
             -(-len(records) // max(1, batch_size)))
    if widened:
        # retire the planted codes: deploy the study dictionary over the widened one
        proj.import_metadata(api_metadata(study_csv), import_format="json")


def _import_project_info(url: str, token: str, info: dict[str, str]) -> None:
    try:
        response = requests.post(url, data={"token": token, "content": "project_settings",
                                            "format": "json", "data": json.dumps(info)},
                                 timeout=60)
    except requests.RequestException as exc:
        raise RedcapApiError(f"cannot reach REDCap at {url}: {exc}",
                             call="import_project_info") from exc
    if response.status_code != 200:
        raise RedcapApiError("REDCap refused the project information",
                             call="import_project_info", status_code=response.status_code,
                             redcap_message=response.text.strip()[:300])


def _create_over_api(url: str, super_token: str, title: str) -> str:
    data = json.dumps([{"project_title": title, "purpose": "0",
                        "record_autonumbering_enabled": 1}])
    try:
        response = requests.post(url, data={"token": super_token, "content": "project",
                                            "format": "json", "data": data}, timeout=60)
    except requests.RequestException as exc:
        raise RedcapApiError(f"cannot reach the sandbox at {url}: {exc}",
                             call="create_project") from exc
    body = response.text.strip()
    if response.status_code != 200 or len(body) < 32:
        raise RedcapApiError("the sandbox refused to create the project",
                             call="create_project", status_code=response.status_code,
                             redcap_message=body[:300])
    return body[-32:]
