"""One query sweep: pull → checks → reconcile → post → listings.

The sweep is safe to repeat and to interrupt: it always plans from what REDCap holds at the
time, new queries go to explicit instance numbers computed from that state, and every write
is in the audit log before it is sent. A second sweep with no data change posts nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from sgbm_redcap.checks import REGISTRY, Rule, run_checks
from sgbm_redcap.queries import AuditLog, RecordsBackend, RedcapHttp, apply_plan, sync_queries
from sgbm_redcap.queries.backends import DataQualityApiBackend, QueryBackend
from sgbm_redcap.queries.listings import write_listings
from sgbm_redcap.queries.reconcile import Plan
from sgbm_redcap.queries.sync import BATCH_SIZE

log = logging.getLogger(__name__)

DEFAULT_AUDIT_LOG = Path("out/audit/queries.jsonl")


@dataclass
class SweepResult:
    """What one sweep found and did."""

    sweep_id: str
    findings: pd.DataFrame = field(repr=False)
    plan: Plan = field(repr=False)
    sent: int
    dry_run: bool
    failed_rules: list[str]
    listings: list[Path]
    timings: dict[str, float]

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
    source: Any,
    backend: QueryBackend,
    *,
    audit: AuditLog | None = None,
    dictionary: Any | None = None,
    today: date | None = None,
    cutoff: date | None = None,
    dry_run: bool = False,
    listings_dir: str | Path | None = None,
    rules: Iterable[Rule] | None = None,
    sweep_id: str | None = None,
    batch_size: int = BATCH_SIZE,
) -> SweepResult:
    """Run one sweep.

    ``source`` has ``tables()`` (a ``RedcapSource`` or ``FileSource``) or is a
    ``StudyTables``. ``dictionary`` is the study's versioned dictionary (the live project's
    may carry retired codes); default: the one of the tables. ``cutoff`` (default ``today``)
    is the reference date of time-dependent rules.
    """
    today = today or date.today()
    sweep_id = sweep_id or datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    tables = raw_tables(source)
    timings["pull"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    selected = list(rules) if rules is not None else list(REGISTRY)
    findings = run_checks(tables, cutoff=cutoff or today, rules=selected, dictionary=dictionary)
    failed = list(findings.attrs.get("failed_rules", []))
    not_run = set(failed) | set(findings.attrs.get("skipped_rules", []))
    timings["checks"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    existing = backend.existing()
    timings["read_queries"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    rules_run = {r.rule_id for r in selected} - not_run
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

        paths = write_listings(state, listings_dir, as_of=str(today),
                               render_html=render_site_listing)
        timings["listings"] = time.perf_counter() - t0
    out = SweepResult(sweep_id, findings, result.plan, result.sent, dry_run, failed, paths,
                      timings)
    log.info("%s", out.summary())
    return out


@dataclass
class RawTables:
    """What the checks need: the flat export as raw strings, and the dictionary it came
    with. Typing every instrument (``StudyTables``) is skipped: the rules read raw codes."""

    raw: pd.DataFrame
    dictionary: Any | None = None
    repeating_forms: list[str] = field(default_factory=list)


def raw_tables(source: Any) -> Any:
    """Pull ``source`` for the checks: raw strings only, as compact as possible.

    ``FileSource`` of a CSV → the file read with Arrow-backed strings (a 10,000-patient
    export then fits in memory comfortably); anything else with ``tables()`` (such as
    ``RedcapSource``) → its tables; a ``StudyTables`` is used as it is."""
    from sgbm_redcap.source import FileSource

    if isinstance(source, FileSource) and source.records_path.suffix.lower() == ".csv":
        return RawTables(read_csv_compact(source.records_path), source.dictionary,
                         list(source.repeating_forms))
    return source.tables() if hasattr(source, "tables") else source


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


def _dags(tables: Any) -> dict[str, str]:
    raw = tables.raw
    if "redcap_data_access_group" not in raw.columns:
        return {}
    instrument = raw.get("redcap_repeat_instrument", pd.Series("", index=raw.index))
    base = raw.loc[(instrument.fillna("").astype(str) == "").to_numpy()]
    return dict(zip(base["record_id"].astype(str),
                    base["redcap_data_access_group"].fillna("").astype(str), strict=True))


def make_backend(kind: str, url: str, token: str, *, timeout_s: float = 60.0,
                 retries: int = 6, backoff_s: float = 0.2, pid: str | int | None = None,
                 today: date | None = None) -> QueryBackend:
    """``records`` (default) or ``data_quality_api``."""
    http = RedcapHttp(url, token, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s)
    if kind == "records":
        return RecordsBackend(http)
    if kind in ("data_quality_api", "drw"):
        return DataQualityApiBackend(http, pid=pid or 1, today=str(today or date.today()))
    from sgbm_redcap.errors import ConfigError

    raise ConfigError(f"unknown query backend {kind!r}: use 'records' or 'data_quality_api'",
                      setting="backend")


def study_dictionary(path: str | Path | None = None) -> Any | None:
    """The study's versioned dictionary (``redcap_project/data_dictionary.csv``), or None."""
    from sgbm_redcap.dictionary import load_dictionary

    p = Path(path) if path else Path(__file__).resolve().parents[1] / "redcap_project" / \
        "data_dictionary.csv"
    return load_dictionary(p) if p.exists() else None


@contextmanager
def embedded_sandbox(data_dir: str | Path, *, n: int = 100, seed: int | None = None,
                     problem_rate: float = 0.1) -> Iterator[tuple[str, str]]:
    """A sandbox on 127.0.0.1 holding the study project and a synthetic cohort: the default
    REDCap when none is configured. Yields ``(url, token)``."""
    from sgbm_redcap.sandbox import Sandbox, serve_in_thread
    from sgbm_redcap.synthetic.seed import seed_study

    Path(data_dir).mkdir(parents=True, exist_ok=True)
    sb = Sandbox(data_dir)
    with serve_in_thread(sb, port=0) as url:
        kwargs = {"n": n, "problem_rate": problem_rate, "api_url": url}
        if seed is not None:
            kwargs["seed"] = seed
        seeded = seed_study(sb, **kwargs)
        yield url, seeded.token


@dataclass
class Connection:
    """Where a sweep reads and writes: a REDCap URL with its token, and the source."""

    url: str
    token: str = field(repr=False)
    source: Any = field(repr=False)
    embedded: bool = False
    #: the data cut-off the data were made for (the synthetic cohort's extract date), if any
    cutoff: date | None = None


@contextmanager
def connect(settings: Any, *, records_file: str | Path | None = None,
            sandbox_dir: str | Path | None = None, n: int = 100) -> Iterator[Connection]:
    """The configured REDCap (``settings.redcap_url`` + token from the environment), an
    offline export (``records_file``, read-only), or, with neither, the embedded sandbox
    seeded with the synthetic cohort."""
    from sgbm_redcap.source import FileSource, RedcapSource

    if records_file is not None:
        yield Connection("", "", FileSource(records_file, settings.dictionary_path))
        return
    if settings.redcap_url:
        yield Connection(settings.redcap_url, settings.token(),
                         RedcapSource(settings=settings, progress=False))
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="sgbm-sandbox-") as tmp:
        with embedded_sandbox(sandbox_dir or tmp, n=n) as (url, token):
            from sgbm_redcap.synthetic.cohort import DEFAULT_EXTRACT_DATE

            yield Connection(url, token, RedcapSource(url, token, cache_dir=False,
                                                      progress=False), embedded=True,
                             cutoff=DEFAULT_EXTRACT_DATE)
