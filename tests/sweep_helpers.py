"""A seeded sandbox served on loopback, shared by the sweep tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from sgbm_redcap.config import Settings
from sgbm_redcap.jobs import make_backend, study_dictionary
from sgbm_redcap.queries import AuditLog
from sgbm_redcap.sandbox import Sandbox, serve_in_thread
from sgbm_redcap.source import RedcapSource
from sgbm_redcap.sweep import run_sweep
from sgbm_redcap.synthetic.seed import seed_study

TODAY = date(2026, 11, 25)  # the cohort's extract date


@dataclass
class Study:
    sandbox: Sandbox
    url: str
    token: str
    manifest: list
    tmp: Path
    cohort: object = None

    def source(self) -> RedcapSource:
        return RedcapSource(self.url, self.token, cache_dir=False, progress=False,
                            settings=Settings(backoff_s=0.01, retries=8))

    def sweep(self, backend: str = "records", **kwargs):
        kwargs.setdefault("audit", AuditLog(self.tmp / "audit.jsonl"))
        kwargs.setdefault("today", TODAY)
        return run_sweep(self.source(), make_backend(backend, self.url, self.token,
                                                     backoff_s=0.01),
                         dictionary=study_dictionary(), **kwargs)

    def queries(self) -> pd.DataFrame:
        return make_backend("records", self.url, self.token).existing()

    def import_rows(self, rows: list[dict[str, str]]) -> None:
        make_backend("records", self.url, self.token).http.post("import", {
            "content": "record", "type": "flat", "overwriteBehavior": "overwrite",
            "data": pd.io.json.ujson_dumps(rows)})


@contextmanager
def seeded_study(tmp: Path, *, n: int, problem_rate: float, seed: int = 20240801
                 ) -> Iterator[Study]:
    sb = Sandbox(tmp / "sandbox")
    with serve_in_thread(sb) as url:
        seeded = seed_study(sb, n=n, problem_rate=problem_rate, seed=seed, api_url=url)
        yield Study(sb, url, seeded.token, seeded.manifest, tmp, seeded.cohort)


#: Planted problems that one value restores (the clean cohort's value).
ONE_VALUE_KINDS = ("out_of_range", "invalid_choice", "stale_last_contact", "dose_reescalation",
                   "response_contradicts_measurements", "eligibility_violation")


def fix_one(study: Study):
    """Restore the clean value of one planted problem; returns the problem."""
    problem = next(p for p in study.manifest if p.kind in ONE_VALUE_KINDS)
    form = problem.form if problem.instance else ""
    clean = next(r for r in study.cohort.clean_records
                 if r["record_id"] == problem.record_id
                 and r["redcap_repeat_instrument"] == form
                 and (not form or r["redcap_repeat_instance"] == str(problem.instance)))
    study.import_rows([{"record_id": problem.record_id, "redcap_repeat_instrument": form,
                        "redcap_repeat_instance": str(problem.instance or ""),
                        problem.field: clean[problem.field]}])
    return problem


def manifest_frame(manifest: list) -> pd.DataFrame:
    m = pd.DataFrame([p.__dict__ for p in manifest])
    m["instance"] = m["instance"].fillna(0).astype(int)
    return m


def unmatched(findings: pd.DataFrame, manifest: list) -> list:
    """Planted problems with no finding on the same record/form/instance/field."""
    found = set(zip(findings["record_id"], findings["form"], findings["instance"],
                    findings["field"], strict=True))
    return [p for p in manifest_frame(manifest).itertuples()
            if (p.record_id, p.form, p.instance, p.field) not in found]
