"""The demo job, the one a newcomer runs first (``make demo`` → ``sgbm-redcap demo --out out``).

One orchestration of library calls, end to end, over real HTTP on 127.0.0.1:

1. start the sandbox REDCap and build the study project from ``redcap_project/``;
2. seed the synthetic 100-patient cohort (with planted data problems) as the sites had
   entered it a month before the extract date, make that month's data cut and render its
   monthly report;
3. the month passes: the sites enter the rest (new patients, new visits, outcomes) and
   correct two values already reported (a RANO-BM call, an AE grade: retrospective changes);
4. sweep: pull, run the checks, post data queries into the ``data_queries`` instrument;
5. simulate the sites: correct some of the data, answer some queries without a change;
6. sweep again: fixed problems close, answered-but-persisting ones reopen;
7. make the second data cut and render from it the monthly report (HTML + PDF, with the
   changes since the first cut), the data-quality report, the per-site query listings and
   the codebook into the output folder;
8. write the monitoring dashboard ``monitoring_<date>.html`` (+ PDF);
9. stop the sandbox (its files live in a temporary folder and go with it).

Nothing here is faked: each step is the library call a real deployment makes.
"""

from __future__ import annotations

import json
import logging
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sgbm_redcap.checks import CheckResult
from sgbm_redcap.cuts import Cut
from sgbm_redcap.dictionary.project import StudyProject
from sgbm_redcap.jobs.guards import writable_dir
from sgbm_redcap.jobs.synthetic import Cohort
from sgbm_redcap.queries.backends import RecordsBackend
from sgbm_redcap.source.tables import StudyTables

log = logging.getLogger(__name__)

#: Planted-problem kinds whose fix is restoring one value (what a site does after a query).
FIXABLE_KINDS = ("out_of_range", "invalid_choice", "stale_last_contact", "dose_reescalation",
                 "response_contradicts_measurements", "eligibility_violation")
SITE_ANSWER = "Checked against the source documents: the value is correct as entered."


@dataclass
class DemoResult:
    """What the demo made, for the CLI to print."""

    out_dir: Path
    url: str
    n_patients: int
    first_sweep: str
    second_sweep: str
    fixed: int
    answered: int
    files: dict[str, list[Path]] = field(default_factory=dict)


def _import(backend: RecordsBackend, rows: list[dict[str, str]]) -> None:
    """Write rows as a site would in REDCap's forms (overwrite: sites may blank a value)."""
    if rows:
        backend.http.post("import", {"content": "record", "type": "flat",
                                     "overwriteBehavior": "overwrite",
                                     "data": json.dumps(rows)})


def simulate_sites(backend: RecordsBackend, cohort: Cohort, *, today: date, seed: int = 7,
                   fix_share: float = 0.5, answer_share: float = 0.3) -> tuple[int, int]:
    """Sites correct ``fix_share`` of the fixable planted problems (the clean value comes
    back) and answer ``answer_share`` of the other open queries without changing the data.
    Returns (records fixed, queries answered)."""
    rng = random.Random(seed)
    fixable = [p for p in cohort.manifest if p.kind in FIXABLE_KINDS]
    fixes = rng.sample(fixable, round(fix_share * len(fixable)))
    clean = {(r["record_id"], r.get("redcap_repeat_instrument", ""),
              str(r.get("redcap_repeat_instance", ""))): r for r in cohort.clean_records}
    rows = []
    for p in fixes:
        form = p.form if p.instance else ""
        key = (p.record_id, form, str(p.instance or ""))
        if key in clean and p.field in clean[key]:
            rows.append({"record_id": p.record_id, "redcap_repeat_instrument": form,
                         "redcap_repeat_instance": str(p.instance or ""),
                         p.field: clean[key][p.field]})
    _import(backend, rows)
    fixed_records = {r["record_id"] for r in rows}
    queries = backend.existing()
    candidates = queries[(queries["dq_status"] == "1")
                         & ~queries["record_id"].isin(fixed_records)]
    picked = candidates.sample(frac=answer_share, random_state=seed) if len(candidates) else \
        candidates
    answers = [{"record_id": q.record_id, "redcap_repeat_instrument": "data_queries",
                "redcap_repeat_instance": str(q.instance), "dq_status": "2",
                "dq_site_response": SITE_ANSWER, "dq_answered_date": today.isoformat()}
               for q in picked.itertuples(index=False)]
    _import(backend, answers)
    return len(rows), len(answers)


def run_demo(out_dir: Path | str, *, n: int = 100, seed: int | None = None,
             problem_rate: float = 0.1, pdf: bool = True,
             step: Callable[[str], None] | None = None) -> DemoResult:
    """Run the whole demo into ``out_dir``; ``step`` is told what is happening (the CLI
    prints it)."""
    from sgbm_redcap.config import Settings
    from sgbm_redcap.dictionary.project import load_project
    from sgbm_redcap.jobs.connection import make_backend
    from sgbm_redcap.jobs.cuts import cut_source
    from sgbm_redcap.jobs.synthetic import (
        DEFAULT_PROJECT_DIR,
        DEFAULT_SEED,
        seed_study,
        two_waves,
    )
    from sgbm_redcap.queries import AuditLog
    from sgbm_redcap.queries.messages import localiser
    from sgbm_redcap.sandbox import Sandbox, serve_in_thread
    from sgbm_redcap.source import RedcapSource
    from sgbm_redcap.sweep import run_sweep

    say = step or (lambda message: log.info("%s", message))
    out = writable_dir(out_dir)
    if pdf:  # the Chinese font of the PDFs: say it is missing now, not after a minute's work
        from sgbm_redcap.reports.fonts import require_cjk_font

        require_cjk_font()
    project = load_project(DEFAULT_PROJECT_DIR)
    with tempfile.TemporaryDirectory(prefix="sgbm-sandbox-") as data_dir:
        sandbox = Sandbox(data_dir)
        with serve_in_thread(sandbox, port=0) as url:
            say(f"sandbox REDCap listening on {url}")
            waves = two_waves(project, n=n, seed=seed or DEFAULT_SEED,
                              problem_rate=problem_rate)
            seeded = seed_study(sandbox, cohort=waves.first, api_url=url)
            today, first_day = waves.cohort.extract_date, waves.first.extract_date
            say(f"study project {project.version} built from {DEFAULT_PROJECT_DIR.name}/; "
                f"{n} synthetic patients across {len(waves.cohort.sites)} sites "
                f"({len(waves.cohort.manifest)} planted data problems); "
                f"{len(waves.first.dags)} screened by {first_day} seeded as entered then")
            source = RedcapSource(url, seeded.token, cache_dir=False, progress=False,
                                  settings=Settings(redcap_url=url))
            backend = make_backend("records", url, seeded.token)
            where = (f"sandbox REDCap at {url} (synthetic cohort, seed "
                     f"{seed or DEFAULT_SEED})")
            cut1 = cut_source(source, cutoff=first_day, folder=out / "cuts" / str(first_day),
                              project=project, replace=True)
            earlier = _monthly(cut1, None, project, out, pdf=pdf, data_source=where)
            say(f"data cut {first_day} ({cut1.short_hash}) and its monthly report")
            _import(backend, waves.second)
            _import(backend, [c.row() for c in waves.corrections])
            say(f"a month later: sites entered {len(waves.second)} rows and corrected "
                f"{len(waves.corrections)} values already reported")
            audit = AuditLog(out / "audit" / "queries.jsonl")
            localise = localiser(project)  # Chinese + English queries for Chinese sites
            first = run_sweep(source, backend, audit=audit, dictionary=project.dictionary,
                              today=today, localise=localise)
            say(f"first sweep: {first.summary()}")
            fixed, answered = simulate_sites(backend, seeded.cohort, today=today)
            say(f"sites corrected {fixed} values and answered {answered} queries")
            second = run_sweep(source, backend, audit=audit, dictionary=project.dictionary,
                               today=today, listings_dir=out / "listings", localise=localise,
                               site_language=project.dag_language)
            say(f"second sweep: {second.summary()}")
            cut2 = cut_source(source, cutoff=today, folder=out / "cuts" / str(today),
                              project=project, replace=True)
            say(f"data cut {today} ({cut2.short_hash})")
            files = render_outputs(cut2.tables(), project, out, cutoff=today,
                                   check_result=second.checks, pdf=pdf, data_source=where,
                                   cut=cut2, previous_cut=cut1)
            files["monthly report"] = earlier + files["monthly report"]
            files["data cuts"] = [cut1.path, cut2.path]
            files["listings (CSV)"] = [p for p in second.listings if p.suffix == ".csv"]
            files["audit log"] = [out / "audit" / "queries.jsonl"]
            files["monitoring dashboard"] = _dashboard(source, project, out, today=today,
                                                       pdf=pdf, checks=second.checks,
                                                       data_source=where,
                                                       cutoffs=(first_day,), say=say)
        say("sandbox stopped")
    return DemoResult(out, url, n, first.summary(), second.summary(), fixed, answered, files)


def _dashboard(source: object, project: StudyProject, out: Path, *, today: date, pdf: bool,
               checks: CheckResult, data_source: str, cutoffs: tuple[date, ...],
               say: Callable[[str], None]) -> list[Path]:
    """The monitoring dashboard at the second cut's date (the first cut's date is the
    cut-off of a report already made, for the audit-trail review)."""
    from sgbm_redcap.jobs.monitor import dashboard_from_source

    made = dashboard_from_source(source, project, out, ref=today, pdf=pdf,
                                 check_result=checks, data_source=data_source,
                                 cutoffs=cutoffs)
    red = ", ".join(f"{s} {k}" for s, k in sorted(made.red)) or "none"
    say(f"monitoring dashboard: {len(made.red)} red indicator(s) ({red}), "
        f"{len(made.findings or [])} audit-trail findings")
    return made.paths


def _monthly(cut: Cut, previous: Cut | None, project: StudyProject, out: Path, *,
             pdf: bool, data_source: str) -> list[Path]:
    """The monthly report of ``cut`` as ``report monthly --cut`` renders it."""
    from sgbm_redcap.reports.monthly import run_monthly_report

    files = run_monthly_report(cut.tables(), cutoff=cut.cutoff, out_dir=out, project=project,
                               pdf=pdf, data_source=f"{data_source}, data cut {cut.path.name}",
                               cut=cut, previous_cut=previous, generated_at=cut.created_at,
                               extract_date=cut.pulled_at)
    return [p for p in (files.html, files.pdf) if p]


def render_outputs(tables: StudyTables, project: StudyProject, out: Path, *, cutoff: date,
                   check_result: CheckResult | None, pdf: bool = True,
                   data_source: str = "", cut: Cut | None = None,
                   previous_cut: Cut | None = None) -> dict[str, list[Path]]:
    """Monthly report, data-quality report, per-site listings and codebook into ``out``
    (from ``cut`` when given: then the monthly report shows the changes since
    ``previous_cut``)."""
    from sgbm_redcap.reports.monthly import write_monthly_report
    from sgbm_redcap.reports.outputs import (
        quality_cover,
        write_codebook,
        write_quality_report,
        write_site_listings,
    )

    from_cut: dict[str, object] = {} if cut is None else {
        "cut": cut, "previous_cut": previous_cut, "generated_at": cut.created_at,
        "extract_date": cut.pulled_at}
    monthly = write_monthly_report(tables, cutoff=cutoff, out_dir=out,
                                   check_result=check_result, dags=project.dags,
                                   dictionary_version=project.version,
                                   data_source=(f"{data_source}, data cut {cut.path.name}"
                                                if cut is not None else data_source),
                                   pdf=pdf, project=project, **from_cut)
    cover = quality_cover(tables, project, cutoff=cutoff, data_source=data_source,
                          extract_date=monthly.context.cover.extract_date)
    findings = check_result.findings if check_result is not None else None
    return {
        "monthly report": [p for p in (monthly.html, monthly.pdf) if p],
        "data-quality report": write_quality_report(tables, project, out, cutoff=cutoff,
                                                    findings=findings, cover=cover, pdf=pdf),
        "site query listings": write_site_listings(tables, project, out, cutoff=cutoff,
                                                   cover=cover, pdf=pdf),
        "codebook": write_codebook(project, out, pdf=pdf) + [
            path for lang in sorted(set(project.dag_languages.values())
                                    - {project.default_language})
            for path in write_codebook(project, out, pdf=pdf, language=lang)],
    }
