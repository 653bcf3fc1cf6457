"""One query sweep: pull → checks → reconcile → post → listings.

The sweep is safe to repeat and to interrupt: it always plans from what REDCap holds at the
time, new queries go to explicit instance numbers computed from that state, and every write
is in the audit log before it is sent. A second sweep with no data change posts nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import pandas as pd

from sgbm_redcap.checks import REGISTRY, CheckResult, Rule, run_checks
from sgbm_redcap.dictionary.model import Dictionary
from sgbm_redcap.queries import AuditLog, apply_plan, sync_queries
from sgbm_redcap.queries.backends import QueryBackend
from sgbm_redcap.queries.listings import SiteQueries, write_listings
from sgbm_redcap.queries.messages import Localiser
from sgbm_redcap.queries.reconcile import Plan
from sgbm_redcap.queries.sync import BATCH_SIZE
from sgbm_redcap.source import FileSource, RedcapSource
from sgbm_redcap.source.tables import StudyTables

log = logging.getLogger(__name__)

DEFAULT_AUDIT_LOG = Path("out/audit/queries.jsonl")


@dataclass
class SweepResult:
    """What one sweep found and did."""

    sweep_id: str
    checks: CheckResult = field(repr=False)
    plan: Plan = field(repr=False)
    sent: int
    dry_run: bool
    listings: list[Path]
    timings: dict[str, float]
    #: the monitoring dashboard's files (``sweep --dashboard``)
    dashboard: list[Path] = field(default_factory=list)

    @property
    def findings(self) -> pd.DataFrame:
        return self.checks.findings

    @property
    def failed_rules(self) -> list[str]:
        """Rules that crashed: their queries were left as they are."""
        return self.checks.failed_rules

    @property
    def counts(self) -> dict[str, int]:
        return self.plan.counts()

    def summary(self) -> str:
        c = self.counts
        verb = "would post" if self.dry_run else "posted"
        return (f"sweep {self.sweep_id}: {len(self.findings)} findings; {verb} "
                f"{c['open']} new, {c['close']} closed, {c['reopen']} reopened "
                f"({self.plan.unchanged} queries unchanged)")


def run_sweep(
    source: RedcapSource | FileSource | StudyTables | RawTables,
    backend: QueryBackend,
    *,
    audit: AuditLog | None = None,
    dictionary: Dictionary | None = None,
    today: date | None = None,
    cutoff: date | None = None,
    dry_run: bool = False,
    listings_dir: str | Path | None = None,
    rules: Iterable[Rule] | None = None,
    sweep_id: str | None = None,
    batch_size: int = BATCH_SIZE,
    localise: Localiser | None = None,
    site_language: Callable[[str], str] | None = None,
) -> SweepResult:
    """Run one sweep.

    ``source`` is a ``RedcapSource`` or ``FileSource`` (pulled here), or tables already
    pulled (``StudyTables``, :class:`RawTables`). ``dictionary`` is the study's versioned
    dictionary (the live project's may carry retired codes); default: the one of the
    tables. ``cutoff`` (default ``today``)
    is the reference date of time-dependent rules. ``localise`` rewrites the messages of
    sites whose language is not English (``queries.messages.localiser(project)``);
    ``site_language`` (DAG → language) sets the language of each site's listing.
    """
    today = today or date.today()
    sweep_id = sweep_id or datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    tables = raw_tables(source)
    timings["pull"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    selected = list(rules) if rules is not None else list(REGISTRY)
    checked = run_checks(tables, cutoff=cutoff or today, rules=selected, dictionary=dictionary)
    timings["checks"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    existing = backend.existing()
    timings["read_queries"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    rules_run = {r.rule_id for r in selected} - checked.not_run
    findings = localise(checked.findings) if localise is not None else checked.findings
    result = sync_queries(findings, backend, today=today, audit=audit, sweep_id=sweep_id,
                          dry_run=dry_run, rules_run=rules_run, existing=existing,
                          batch_size=batch_size)
    timings["post"] = time.perf_counter() - t0
    paths: list[Path] = []
    if listings_dir is not None:
        t0 = time.perf_counter()
        state = apply_plan(existing, result.plan)
        state["dag"] = state["record_id"].map(_dags(tables)).fillna("")
        from sgbm_redcap.reports.quality import render_site_listing  # the HTML template

        def render(site: SiteQueries, as_of: str) -> str:
            return render_site_listing(site, as_of, language=language_of(site.dag))

        language_of = site_language or (lambda dag: "en")
        paths = write_listings(state, listings_dir, as_of=str(today), render_html=render,
                               language_of=language_of)
        timings["listings"] = time.perf_counter() - t0
    out = SweepResult(sweep_id, checked, result.plan, result.sent, dry_run, paths, timings)
    log.info("%s", out.summary())
    return out


@dataclass
class RawTables:
    """What the checks need: the flat export as raw strings, and the dictionary it came
    with. Typing every instrument (``StudyTables``) is skipped: the rules read raw codes."""

    raw: pd.DataFrame
    dictionary: Dictionary | None = None
    repeating_forms: list[str] = field(default_factory=list)


def raw_tables(source: RedcapSource | FileSource | StudyTables | RawTables
               ) -> StudyTables | RawTables:
    """Pull ``source`` for the checks: raw strings only, as compact as possible.

    ``FileSource`` of a CSV → the file read with Arrow-backed strings (a 10,000-patient
    export then fits in memory comfortably); anything else with ``tables()`` (such as
    ``RedcapSource``) → its tables; a ``StudyTables`` is used as it is."""
    if isinstance(source, FileSource) and source.records_path.suffix.lower() == ".csv":
        return RawTables(read_csv_compact(source.records_path), source.dictionary,
                         list(source.repeating_forms))
    return source.tables() if isinstance(source, RedcapSource | FileSource) else source


def read_csv_compact(path: str | Path) -> pd.DataFrame:
    """A flat export as Arrow-backed strings ('' for blank): a fraction of the memory of
    Python string objects, and read by Arrow's multithreaded CSV reader."""
    import csv

    import pyarrow as pa
    import pyarrow.csv as pacsv

    with open(path, newline="", encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh), [])
    options = pacsv.ConvertOptions(column_types={c: pa.string() for c in header},
                                   strings_can_be_null=False,
                                   quoted_strings_can_be_null=False)
    table = pacsv.read_csv(path, convert_options=options)
    return table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow")}.get,
                           split_blocks=True, self_destruct=True)


def _dags(tables: StudyTables | RawTables) -> dict[str, str]:
    raw = tables.raw
    if "redcap_data_access_group" not in raw.columns:
        return {}
    instrument = raw.get("redcap_repeat_instrument", pd.Series("", index=raw.index))
    base = raw.loc[(instrument.fillna("").astype(str) == "").to_numpy()]
    return dict(zip(base["record_id"].astype(str),
                    base["redcap_data_access_group"].fillna("").astype(str), strict=True))
